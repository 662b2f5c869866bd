#include "server/http/connection_error.hpp"

namespace edged::server {
namespace {

class category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "edged.connection"; }
    std::string message(int ev) const override {
        switch (static_cast<connection_error>(ev)) {
            case connection_error::shutdown_grace:
                return "closed at the shutdown grace";
            case connection_error::write_timeout:
                return "write timeout";
        }
        return "connection closed";
    }
};

}  // namespace

const boost::system::error_category& connection_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace edged::server
