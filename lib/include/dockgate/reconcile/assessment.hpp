// What Docker does to each container's wanted rules and published ports, and which changes to log.
#pragma once

#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/model/container.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/reconcile/status_view.hpp"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dockgate {

/// A change worth one log line: logged when a state changes, not on every round.
struct assessment_change {
    enum class kind {
        dead,        ///< a wanted route rule does not open its port (Docker drops first)
        now_opens,   ///< a rule that was dead now opens its port
        open_bypass, ///< a published port is open past ufw with no label asking for it
    };
    kind what = kind::dead;
    std::string container_id;
    std::string container_name;
    std::string subject; ///< the rule as described, or "80->80/tcp" for a port
    std::string state;   ///< the journal's STATE field
    std::string why;
    std::string fix;
};

struct containers_assessment {
    /// Per container id, the rows `status` shows (containers without rows are absent).
    std::map<std::string, std::vector<rule_state_row>> rows;
    std::size_t effective = 0;
    std::size_t dead = 0;
    std::size_t published_open_past_ufw = 0;
    /// Rule or port key to its state, to compare with on the next round.
    std::map<std::string, std::string> states;
    std::vector<assessment_change> changes;
};

using evaluation_lookup = std::function<const evaluation&(const container_info&)>;

/// Assesses every container's route rules and published ports against Docker's setup;
/// `reported` is the previous result's `states` (what was already logged).
containers_assessment assess_containers(const std::map<std::string, container_info>& containers,
                                        const evaluation_lookup& evaluation_of,
                                        const host_posture& posture, const kernel_facts& kernel,
                                        const std::map<std::string, std::string>& reported);

} // namespace dockgate
