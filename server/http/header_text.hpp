#pragma once
// The header-field text rules (config/header_text.hpp, where the config loader checks the same),
// under the names server/ uses.

#include "config/header_text.hpp"

namespace edged::server {
using config::breaks_header_line;
using config::iequals;
using config::is_safe_header_value;
using config::is_tchar;
using config::is_token;
using config::trim_ows;
}  // namespace edged::server
