// edged: arguments, signals, wiring. Everything else lives in config/, lifecycle/ and server/.
//
// Exit codes: 0 clean exit (also after a graceful shutdown that had to close connections at the
// end of the grace); 1 start-up failure (for example a listener that cannot bind); 2 usage error
// or invalid config; 3 a second SIGTERM/SIGINT ended the process at once.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include <boost/asio/signal_set.hpp>

#include "config/schema.hpp"
#include "config/to_json.hpp"
#include "lifecycle/log.hpp"
#include "server/server.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_runtime = 1;
constexpr int exit_usage = 2;
constexpr int exit_forced = 3;

void print_help() {
    std::cout
        << "usage: edged --config FILE        run the daemon\n"
           "       edged --check-config FILE  check FILE as a start would (routes, handlers,\n"
           "                                  templates, files, the job store) and print the\n"
           "                                  effective config with every default\n"
           "       edged --print-schema       print the config's JSON Schema (draft 2020-12)\n"
           "       edged --version            print the version\n"
           "       edged --help               print this help\n"
           "\n"
           "FILE is YAML, or JSON when it ends in .json; every key is in the schema, with its\n"
           "default and a description. The image ships /etc/edged/edged.yaml.\n"
           "\n"
           "Signals: SIGTERM or SIGINT drain and exit (readiness 503, then listeners close,\n"
           "         requests and background tasks finish within shutdown.grace); a second one\n"
           "         exits at once. SIGHUP reads FILE again: a valid file applies to new\n"
           "         requests (in-flight ones keep theirs), an invalid one changes nothing and\n"
           "         is logged; listen addresses, threads, admin, worker_pool, jobs and the\n"
           "         process-wide lifecycle limits need a restart.\n"
           "Admin (admin.listen, default 127.0.0.1:9901): GET /healthz, /readyz, /stats (JSON),\n"
           "         /metrics (Prometheus).\n"
           "Logs: one JSON object per line on stdout (events and the access log).\n"
           "Exit codes: 0 ok, 1 start-up failure, 2 usage or config error,\n"
           "            3 second signal during shutdown.\n";
}

int usage_error(std::string_view msg) {
    std::cerr << "edged: " << msg << "\n(try edged --help)\n";
    return exit_usage;
}

// Loads and validates; prints every error to stderr. Returns nullopt when invalid.
std::optional<edged::config::config> load(const std::string& path) {
    try {
        return edged::config::load_file(path);
    } catch (const edged::config::config_error& e) {
        std::cerr << "edged: invalid config " << path << ":\n";
        for (const auto& err : e.errors()) std::cerr << "  " << err << "\n";
        return std::nullopt;
    } catch (const std::exception& e) {
        std::cerr << "edged: cannot load config " << path << ": " << e.what() << "\n";
        return std::nullopt;
    }
}

// Builds what the config describes (routes, handlers, after-action templates, static bodies and
// their compressed variants, the job store): the errors the loader cannot see. Nullptr, with
// the error on stderr, when that fails: a config error, exit 2, found by --check-config too.
std::unique_ptr<edged::server::server> build(edged::config::config cfg, const std::string& path) {
    try {
        return std::make_unique<edged::server::server>(std::move(cfg));
    } catch (const std::exception& e) {
        std::cerr << "edged: invalid config " << path << ":\n  " << e.what() << "\n";
        return nullptr;
    }
}

int run(edged::config::config cfg, const std::string& path) {
    namespace log = edged::lifecycle::log;
    log::init(cfg.log.level);
    auto built = build(std::move(cfg), path);
    if (!built) return exit_usage;
    try {
        edged::server::server& srv = *built;
        // Signals are caught before any listener opens, so none can kill a half-started process.
        boost::asio::signal_set signals(srv.control(), SIGINT, SIGTERM);
        std::function<void(const boost::system::error_code&, int)> on_signal;
        int signals_seen = 0;
        on_signal = [&](const boost::system::error_code& ec, int sig) {
            if (ec) return;
            if (++signals_seen > 1) {
                log::event("second signal: exiting now").num("signal", sig).warn();
                log::flush();
                std::_Exit(exit_forced);
            }
            log::event("signal received").num("signal", sig).info();
            srv.shutdown();
            signals.async_wait(on_signal);
        };
        signals.async_wait(on_signal);
        // SIGHUP: read the config file again and apply it (server::reload; an invalid file
        // changes nothing and is logged with every error).
        boost::asio::signal_set hangup(srv.control(), SIGHUP);
        std::function<void(const boost::system::error_code&, int)> on_hangup;
        on_hangup = [&](const boost::system::error_code& ec, int) {
            if (ec) return;
            log::event("SIGHUP: reloading the config").str("config", path).info();
            srv.reload(path);
            hangup.async_wait(on_hangup);
        };
        hangup.async_wait(on_hangup);
        srv.start();
        log::event("edged started")
            .str("version", EDGED_VERSION)
            .str("config", path)
            .unum("threads", srv.threads())
            .info();
        srv.run();

        const auto& s = srv.summary();
        log::event("shutdown complete")
            .boolean("graceful", s.graceful)
            .unum("requests", s.requests)
            .unum("connections_accepted", s.connections_accepted)
            .unum("connections_rejected", s.connections_rejected)
            .unum("connections_closed_at_grace", s.connections_forced)
            .unum("tasks_pending", s.tasks_pending)
            .unum("tasks_drained", s.tasks_drained)
            .unum("tasks_cancelled", s.tasks_cancelled)
            .unum("offload_queued", s.offload_queued)
            .unum("offload_running", s.offload_running)
            .unum("offload_submitted", s.offload_submitted)
            .unum("offload_completed", s.offload_completed)
            .unum("offload_failed", s.offload_failed)
            .unum("offload_cancelled", s.offload_cancelled)
            .num("drain_ms", s.drain_time.count())
            .info();
        log::flush();
        return exit_ok;
    } catch (const std::exception& e) {
        log::event("start-up failed").str("error", e.what()).error();
        log::flush();
        std::cerr << "edged: " << e.what() << "\n";
        return exit_runtime;
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string config_path;
    bool check_only = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            print_help();
            return exit_ok;
        }
        if (arg == "--print-schema") {
            std::cout << edged::config::schema().dump(2) << "\n";
            return exit_ok;
        }
        if (arg == "--version") {
            std::cout << "edged " << EDGED_VERSION << "\n";
            return exit_ok;
        }
        if (arg == "--config" || arg == "--check-config") {
            if (i + 1 >= argc) return usage_error(std::string(arg) + " needs a FILE");
            if (!config_path.empty()) return usage_error("give one config file");
            check_only = arg == "--check-config";
            config_path = argv[++i];
            continue;
        }
        return usage_error("unknown argument " + std::string(arg));
    }
    if (config_path.empty()) return usage_error("missing --config FILE");

    auto cfg = load(config_path);
    if (!cfg) return exit_usage;
    if (check_only) {
        // Everything a start would build, without opening a socket or starting a thread.
        edged::lifecycle::log::init("off");
        if (!build(*cfg, config_path)) return exit_usage;
        std::cout << edged::config::to_ordered_json(*cfg).dump(2) << "\n";
        return exit_ok;
    }
    // Unbuffered SIGPIPE would kill the process on a write to a closed socket.
    std::signal(SIGPIPE, SIG_IGN);
    return run(std::move(*cfg), config_path);
}
