// Turns a container's labels into the rules the policy grants, with a reason for each refusal.
#pragma once

#include "dockgate/container.hpp"
#include "dockgate/policy.hpp"
#include "dockgate/rule.hpp"

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

/// Applies `pol` to the labels and addresses of a running container. Pure: no I/O.
evaluation evaluate(const container_info& container, const policy& pol);

} // namespace dockgate
