// Test helpers shared by the unit tests: readable printers for dockgate's types and fixture access.
#pragma once

#include "dockgate/docker/connection_fsm.hpp"
#include "dockgate/docker/docker_event.hpp"
#include "dockgate/model/address.hpp"
#include "dockgate/model/rule.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/reconcile/plan.hpp"
#include "dockgate/ufw/rules_file.hpp"
#include "dockgate/ufw/ufw_output.hpp"

#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dockgate {

// gtest finds these through ADL, so a failing EXPECT_EQ prints "limit" instead of "4-byte object".
inline std::ostream& operator<<(std::ostream& os, conn_input i) {
    return os << to_string(i);
}
inline std::ostream& operator<<(std::ostream& os, address_scope s) {
    return os << to_string(s);
}
inline std::ostream& operator<<(std::ostream& os, ufw_outcome o) {
    return os << to_string(o);
}
inline std::ostream& operator<<(std::ostream& os, op_kind k) {
    return os << to_string(k);
}
inline std::ostream& operator<<(std::ostream& os, event_kind k) {
    return os << to_string(k);
}
inline std::ostream& operator<<(std::ostream& os, protocol p) {
    return os << to_string(p);
}
inline std::ostream& operator<<(std::ostream& os, decode_status s) {
    switch (s) {
    case decode_status::relevant:
        return os << "relevant";
    case decode_status::ignored:
        return os << "ignored";
    case decode_status::malformed:
        return os << "malformed";
    }
    return os << "?";
}
inline std::ostream& operator<<(std::ostream& os, const ip_prefix& p) {
    return os << p.to_string();
}
inline std::ostream& operator<<(std::ostream& os, const port_range& p) {
    return os << p.to_string();
}
inline std::ostream& operator<<(std::ostream& os, const owner_tag& t) {
    return os << t.to_comment();
}
inline std::ostream& operator<<(std::ostream& os, const rule& r) {
    return os << r.tuple();
}
inline std::ostream& operator<<(std::ostream& os, const owned_rule& r) {
    return os << r.what.tuple() << " [" << r.owner.to_comment() << "]";
}
inline std::ostream& operator<<(std::ostream& os, const rejection& r) {
    return os << r.label << "=\"" << r.value << "\": " << r.reason;
}
inline std::ostream& operator<<(std::ostream& os, const rule_op& op) {
    return os << to_string(op.kind) << " " << op.target << " (" << op.reason << ")";
}

} // namespace dockgate

namespace dockgate::test {

/// A prefix the test knows to be valid; a typo in a test fails loudly instead of crashing.
inline ip_prefix prefix(std::string_view text) {
    std::string why;
    const auto parsed = parse_prefix(text, &why);
    if (!parsed) {
        throw std::invalid_argument("bad test prefix " + std::string(text) + ": " + why);
    }
    return *parsed;
}

/// "any" of a family, as the evaluator and ufw write it (::/0 or 0.0.0.0/0).
inline ip_prefix any_source(bool v6 = true) {
    return prefix(v6 ? "::/0" : "0.0.0.0/0");
}

/// Builds a rule from ufw-like pieces: route_rule("2001:db8::2", 80) is "route allow tcp ... port
/// 80".
struct rule_builder {
    rule r;
    explicit rule_builder(std::string_view destination) {
        r.destination = prefix(destination);
        r.source = any_source(r.destination.v6);
        r.port = {80, 80};
    }
    rule_builder& input() {
        r.kind = rule_kind::input;
        return *this;
    }
    rule_builder& limit() {
        r.action = rule_action::limit;
        return *this;
    }
    rule_builder& log() {
        r.log = true;
        return *this;
    }
    rule_builder& udp() {
        r.proto = protocol::udp;
        return *this;
    }
    rule_builder& port(std::uint16_t p) {
        r.port = {p, p};
        return *this;
    }
    rule_builder& ports(std::uint16_t first, std::uint16_t last) {
        r.port = {first, last};
        return *this;
    }
    rule_builder& from(std::string_view source) {
        r.source = prefix(source);
        return *this;
    }
    operator rule() const { return r; } // NOLINT(google-explicit-constructor): test sugar
};

inline std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open test fixture " + path);
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline std::string test_data(const std::string& name) {
    return read_text_file(std::string(DOCKGATE_TEST_DATA) + "/" + name);
}

/// ufw's comment encoding, as ufw writes it.
inline std::string hex_encode(std::string_view text) {
    return encode_hex_comment(text);
}

} // namespace dockgate::test
