// The translation unit that builds server/pch.hpp once for every server library.
