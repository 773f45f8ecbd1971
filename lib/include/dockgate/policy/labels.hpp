// Turns a container's labels into the rules the policy grants, with a reason for each refusal.
#pragma once

#include "dockgate/model/container.hpp"
#include "dockgate/model/rule.hpp"
#include "dockgate/model/text.hpp" // printable(), which the callers of evaluate() log with
#include "dockgate/policy/policy.hpp"

#include <string>
#include <vector>

namespace dockgate {

/// One label item that was refused; the container's other valid items still apply.
struct rejection {
    std::string label;
    std::string value;
    std::string reason;
    friend bool operator==(const rejection&, const rejection&) = default;
};

struct evaluation {
    std::vector<owned_rule> rules;
    std::vector<rejection> rejected;
    [[nodiscard]] bool wants_anything() const { return !rules.empty() || !rejected.empty(); }
};

/// Where fw.publish opens a published port: on the host (docker-proxy answers there, Docker's
/// ip6tables off: an IN rule for the host port), or at the container (Docker forwards the host
/// port to it with DNAT: a route rule for the container port).
enum class publish_target { host_port, container_port };

/// Applies `pol` to the labels and addresses of a running container. Pure: no I/O.
evaluation evaluate(const container_info& container, const policy& pol,
                    publish_target publish = publish_target::host_port);

/// Why a labelled container got no rule and no rejection: which of its networks and addresses
/// fw.networks and the policy left out. For status and --explain.
std::string why_no_rules(const container_info& container, const policy& pol);

} // namespace dockgate
