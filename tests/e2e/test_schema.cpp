// The config's JSON Schema, checked with a real validator (python3-jsonschema): the shipped
// file is what --print-schema prints, every shipped config validates, and a sample of each
// kind of error the loader rejects is rejected by the schema too.

#include <catch2/catch.hpp>

#include "e2e/e2e.hpp"

using namespace edged::test;

namespace {

const std::string source = EDGED_SOURCE_DIR;

// {file: [errors]} from tests/e2e/schema_check.py.
nlohmann::json schema_errors(const std::vector<std::string>& files) {
    std::vector<std::string> args = {"/usr/bin/python3", source + "/tests/e2e/schema_check.py",
                                     source + "/deploy/edged.schema.json"};
    args.insert(args.end(), files.begin(), files.end());
    process check(args);
    const int rc = check.wait_exit(std::chrono::seconds(60));
    const std::string line = check.wait_line("{");
    INFO(check.output());
    REQUIRE(rc == 0);
    return nlohmann::json::parse(line);
}

}  // namespace

TEST_CASE("schema: deploy/edged.schema.json is what --print-schema prints", "[e2e][schema]") {
    process p({EDGED_BINARY, "--print-schema"});
    REQUIRE(p.wait_exit(10s) == 0);
    p.wait_line("$schema");
    const auto printed = nlohmann::json::parse(p.output());
    const auto shipped = nlohmann::json::parse(slurp(source + "/deploy/edged.schema.json"));
    CHECK(printed == shipped);  // after a schema change: edged --print-schema > deploy/...
    // Defaults come from the config structs.
    CHECK(printed["properties"]["server"]["properties"]["limits"]["properties"]["header_bytes"]
                 ["default"] == "16KiB");
    CHECK(printed["properties"]["lifecycle"]["properties"]["cpu_budget"]["default"] == "50ms");
}

TEST_CASE("schema: every shipped config validates", "[e2e][schema]") {
    const auto errors =
        schema_errors({source + "/deploy/edged.yaml", source + "/deploy/edged.container.yaml",
                       "k8s:" + source + "/deploy/kubernetes.yaml",
                       "k8s:" + source + "/deploy/kubernetes-jobs.yaml"});
    CHECK(errors.size() == 4);
    for (const auto& [file, list] : errors.items()) {
        INFO(file << ": " << list.dump());
        CHECK(list.empty());
    }
    // The shipped YAML points editors at the schema.
    CHECK(slurp(source + "/deploy/edged.yaml").find("yaml-language-server: $schema=") !=
          std::string::npos);
}

TEST_CASE("schema: each kind of error the loader rejects, the schema rejects", "[e2e][schema]") {
    const std::string route = R"(
routes:
  - name: a
    match: { path: /a }
    handler: { static: { body: "x" } }
)";
    // kind -> a file with that one error
    const std::vector<std::pair<std::string, std::string>> samples = {
        {"unknown top-level key", "colour: blue\n"},
        {"unknown nested key", "server: { limits: { max_conections: 5 } }\n"},
        {"wrong type", "server: { limits: { max_connections: lots } }\n"},
        {"integer out of range", "server: { limits: { pipeline_depth: 5000 } }\n"},
        {"integer below range", "lifecycle: { background_share: 0 }\n"},
        {"unknown enum value", "log: { level: loud }\n"},
        {"malformed duration", "server: { timeouts: { idle: 10 minutes } }\n"},
        {"zero duration where one is needed", "lifecycle: { wall_budget: 0s }\n"},
        {"malformed size", "server: { limits: { body_bytes: 10 KB } }\n"},
        {"bad listen address", "server: { listen: [\"localhost\"] }\n"},
        {"bad access log field", "log: { access_fields: [colour] }\n"},
        {"bad route name", R"(
routes:
  - name: "a b"
    match: { path: /a }
    handler: { static: { body: "x" } }
)"},
        {"missing required key", R"(
routes:
  - name: a
    handler: { static: { body: "x" } }
)"},
        {"two handler kinds", R"(
upstreams: { o: { url: "http://127.0.0.1:1" } }
routes:
  - name: a
    match: { path: /a }
    handler: { static: { body: "x" }, proxy: { upstream: o } }
)"},
        {"path and prefix both", R"(
routes:
  - name: a
    match: { path: /a, prefix: /b }
    handler: { static: { body: "x" } }
)"},
        {"status out of range", R"(
routes:
  - name: a
    match: { path: /a }
    handler: { static: { status: 999 } }
)"},
        {"redirect status not a redirect", R"(
routes:
  - name: a
    match: { path: /a }
    handler: { redirect: { status: 200, location: /b } }
)"},
        {"upstream without url", "upstreams: { o: { timeout: 1s } }\n" + route},
        {"unknown after-action", route + "    after: [ { email: { to: x } } ]\n"},
        {"redis username without password", "jobs: { redis: { username: u } }\n"},
    };
    std::vector<std::string> files;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const auto& [kind, text] = samples[i];
        const std::string file = write_config("schema-" + std::to_string(i) + ".yaml", text);
        files.push_back(file);
        INFO(kind);
        process check({EDGED_BINARY, "--check-config", file});
        CHECK(check.wait_exit(10s) == 2);  // the loader rejects it
    }
    const auto errors = schema_errors(files);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        INFO(samples[i].first);
        REQUIRE(errors.contains(files[i]));
        CHECK(!errors[files[i]].empty());  // and so does the schema
    }
}
