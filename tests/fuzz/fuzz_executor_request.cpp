// libFuzzer target: the privileged executor's messages (requests in, responses out).
//
// The executor runs ufw as root on what parse_request accepts, so an accepted request must be
// exactly its canonical text and describe a rule dockgate may write. The response parsers run
// in the unprivileged daemon; reading back what they format must be a fixed point.
#include "dockgate/model/error.hpp"
#include "dockgate/model/rule.hpp"
#include "dockgate/privsep/executor_protocol.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"

namespace {

using namespace dockgate;

void check_request(std::string_view message) {
    const auto parsed = parse_request(message);
    if (!parsed.request) {
        FUZZ_CHECK(!parsed.reason.empty());
        return;
    }
    FUZZ_CHECK(parsed.reason.empty());
    FUZZ_CHECK(message.size() <= max_request_bytes);
    FUZZ_CHECK(format_request(*parsed.request) == message);
    const auto kind = parsed.request->kind;
    FUZZ_CHECK((kind == request_kind::add || kind == request_kind::remove) ==
               parsed.request->target.has_value());
    if (!parsed.request->target) {
        return;
    }
    const auto& [r, owner] = *parsed.request->target;
    // What ufw is asked for reads back from user6.rules as the same rule.
    FUZZ_CHECK(parse_tuple(r.tuple()) == r);
    FUZZ_CHECK(r.port.first >= 1 && r.port.first <= r.port.last);
    FUZZ_CHECK(parse_port(std::to_string(r.port.first)) == r.port.first);
    FUZZ_CHECK(r.destination.v6 == r.source.v6);
    if (r.kind == rule_kind::route) {
        FUZZ_CHECK(r.destination.is_host());
        FUZZ_CHECK(scope_of(r.destination) != address_scope::link_local);
    } else {
        FUZZ_CHECK(r.destination.is_any());
    }
    FUZZ_CHECK(owner_tag::parse(owner.to_comment()) == owner);
    for (const auto& arg : r.ufw_add_args(owner.to_comment())) {
        FUZZ_CHECK(!arg.empty() && !arg.starts_with('-'));
    }
}

/// A detail that format_apply_response passes through unchanged (it bounds and cleans the rest).
bool printable_detail(const std::string& detail) {
    return detail.size() <= 300 &&
           std::all_of(detail.begin(), detail.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

void check_responses(std::string_view message) {
    if (const auto apply = parse_apply_response(message)) {
        const auto once = format_apply_response(*apply);
        const auto again = parse_apply_response(once);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(format_apply_response(*again) == once);
        // Nothing the daemon logs or acts on is lost on the way back.
        FUZZ_CHECK(again->verdict.outcome == apply->verdict.outcome);
        FUZZ_CHECK(again->took == apply->took);
        FUZZ_CHECK(again->ec.value() == apply->ec.value());
        if (apply->ec && printable_detail(apply->verdict.detail)) {
            FUZZ_CHECK(again->verdict.detail == apply->verdict.detail);
        }
    }
    if (const auto probe = parse_probe_response(message)) {
        const auto once = format_probe_response(*probe);
        const auto again = parse_probe_response(once);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(format_probe_response(*again) == once);
    }
    if (const auto outcome = parse_outcome_token(message)) {
        FUZZ_CHECK(outcome_token(*outcome) == message);
    }
}

/// A response built from the input must survive format and parse whole (the executor formats
/// it, the daemon parses it).
void check_response_round_trip(std::string_view message) {
    static constexpr std::array outcomes{ufw_outcome::added,    ufw_outcome::updated,
                                         ufw_outcome::recorded, ufw_outcome::already_present,
                                         ufw_outcome::deleted,  ufw_outcome::not_found,
                                         ufw_outcome::error};
    apply_result made;
    made.verdict.outcome = outcomes[message.size() % outcomes.size()];
    if (message.size() % 2 == 1) {
        made.ec = make_error_code(errc::docker_unreachable);
    }
    made.took = std::chrono::milliseconds(static_cast<long long>(message.size()) * 7919);
    for (const char c : message.substr(0, 300)) {
        made.verdict.detail += (c >= 0x20 && c < 0x7f) ? c : '.';
    }
    const auto back = parse_apply_response(format_apply_response(made));
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(back->verdict.outcome == made.verdict.outcome);
    FUZZ_CHECK(back->took == made.took);
    FUZZ_CHECK(back->ec.value() == made.ec.value());
    if (made.ec) {
        FUZZ_CHECK(back->verdict.detail == made.verdict.detail);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view message(reinterpret_cast<const char*>(data), size);
    check_request(message);
    check_responses(message);
    check_response_round_trip(message);
    return 0;
}
