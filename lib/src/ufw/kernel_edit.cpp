// A batch's change to the kernel, rule by rule: appends, and deletes by nft handle (pure).
#include "dockgate/ufw/kernel_edit.hpp"

#include <algorithm>
#include <set>

namespace dockgate {
namespace {

/// A chain name as iptables allows it.
bool plain_chain_name(std::string_view name) {
    return !name.empty() && name.size() <= 28 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

/// The block's command lines: all of it after its tuple line.
std::string_view command_text(const rules_block& block) {
    const auto tuple_end = block.text.find('\n', 1);
    return tuple_end == std::string::npos ? std::string_view{}
                                          : std::string_view(block.text).substr(tuple_end + 1);
}

std::vector<const monitor_line*> added_rules(const std::vector<monitor_line>& events) {
    std::vector<const monitor_line*> added;
    for (const auto& event : events) {
        if (event.what == monitor_line::kind::rule_added) {
            added.push_back(&event);
        }
    }
    return added;
}

/// Pairs each command line of `text` in a ufw chain with the next reported added rule.
bool take_rules(std::string_view text, const std::vector<const monitor_line*>& added,
                std::size_t& next, std::vector<kernel_rule>& rules) {
    for (const auto& line : chain_lines(text)) {
        if (!line.chain.starts_with(ufw_user_chain_prefix)) {
            continue; // the monitor reports ufw's user chains only
        }
        if (next >= added.size() || added[next]->chain != line.chain) {
            return false;
        }
        rules.push_back({added[next]->chain, added[next]->handle});
        ++next;
    }
    return true;
}

} // namespace

std::vector<chain_line> chain_lines(std::string_view text) {
    std::vector<chain_line> lines;
    std::size_t at = 0;
    while (at < text.size()) {
        const auto end = std::min(text.find('\n', at), text.size());
        const auto line = text.substr(at, end - at);
        if (line.starts_with("-A ") || line.starts_with("-I ")) {
            const auto name_end = std::min(line.find(' ', 3), line.size());
            lines.push_back({line.substr(3, name_end - 3), line});
        }
        at = end + 1;
    }
    return lines;
}

void kernel_handles::forget() {
    known_ = false;
    by_block_.clear();
}

void kernel_handles::remember(const rules_block& block, std::vector<kernel_rule> rules) {
    const auto [it, fresh] = by_block_.try_emplace(block.text, std::move(rules));
    if (!fresh) {
        it->second.clear(); // two blocks of this text: which rules are whose is not known
    }
}

bool kernel_handles::learn_load(const rules_document& doc,
                                const std::vector<monitor_line>& events) {
    forget();
    const auto added = added_rules(events);
    std::size_t next = 0;
    std::vector<kernel_rule> ignored;
    if (!take_rules(doc.header, added, next, ignored)) {
        return false;
    }
    for (const auto& block : doc.blocks) {
        std::vector<kernel_rule> rules;
        if (!take_rules(command_text(block), added, next, rules)) {
            forget();
            return false;
        }
        if (owned_by_dockgate(block)) {
            remember(block, std::move(rules));
        }
    }
    if (!take_rules(doc.footer, added, next, ignored) || next != added.size()) {
        forget();
        return false;
    }
    known_ = true;
    return true;
}

bool kernel_handles::learn_appends(const std::vector<rules_block>& blocks,
                                   const std::vector<monitor_line>& events) {
    const auto added = added_rules(events);
    std::size_t next = 0;
    std::vector<std::pair<const rules_block*, std::vector<kernel_rule>>> learned;
    for (const auto& block : blocks) {
        std::vector<kernel_rule> rules;
        if (!take_rules(command_text(block), added, next, rules)) {
            return false;
        }
        learned.emplace_back(&block, std::move(rules));
    }
    if (next != added.size()) {
        return false;
    }
    for (auto& [block, rules] : learned) {
        remember(*block, std::move(rules));
    }
    return true;
}

const std::vector<kernel_rule>* kernel_handles::find(const rules_block& block) const {
    const auto it = by_block_.find(block.text);
    return it == by_block_.end() || it->second.empty() ? nullptr : &it->second;
}

void kernel_handles::erase(const rules_block& block) {
    by_block_.erase(block.text);
}

void kernel_handles::rename(const rules_block& from, const rules_block& to) {
    auto node = by_block_.extract(from.text);
    if (!node.empty()) {
        remember(to, std::move(node.mapped()));
    }
}

std::optional<kernel_edit> plan_kernel_edit(const rules_document& now,
                                            const document_changes& changes,
                                            const kernel_handles& handles, std::string& why) {
    if (!handles.known()) {
        why = "the kernel handles of dockgate's rules are not known (start-up, or ufw's chains "
              "changed by another program since)";
        return std::nullopt;
    }
    kernel_edit edit;
    for (const auto& block : changes.removed) {
        const auto* rules = handles.find(block);
        if (rules == nullptr || rules->size() != chain_lines(command_text(block)).size()) {
            why = "no kernel handle known for " + block.tuple;
            return std::nullopt;
        }
        for (const auto& rule : *rules) {
            if (!plain_chain_name(rule.chain)) {
                why = "unexpected chain name for " + block.tuple;
                return std::nullopt;
            }
            edit.deletes.push_back(rule);
        }
    }
    for (const auto& [before, after] : changes.replaced) {
        if (command_text(before) != command_text(after)) {
            why = "the rule lines of " + before.tuple + " change in place";
            return std::nullopt;
        }
    }
    std::set<std::string_view> footer_chains;
    for (const auto& line : chain_lines(now.footer)) {
        footer_chains.insert(line.chain);
    }
    std::string lines;
    for (std::size_t at = changes.first_appended; at < now.blocks.size(); ++at) {
        const auto& block = now.blocks[at];
        for (const auto& line : chain_lines(command_text(block))) {
            if (footer_chains.contains(line.chain) || !line.text.starts_with("-A ")) {
                why =
                    "an appended line would not land where ufw puts it: " + std::string(line.text);
                return std::nullopt;
            }
            lines += std::string(line.text) + "\n";
        }
        edit.appended.push_back(block);
    }
    if (!lines.empty()) {
        edit.append_script = "*filter\n" + lines + "COMMIT\n";
    }
    return edit;
}

bool record_kernel_edit(kernel_handles& handles, const document_changes& changes,
                        const kernel_edit& edit, const std::vector<monitor_line>& appends) {
    for (const auto& block : changes.removed) {
        handles.erase(block);
    }
    for (const auto& [before, after] : changes.replaced) {
        handles.rename(before, after);
    }
    if (!edit.appended.empty() && !handles.learn_appends(edit.appended, appends)) {
        handles.forget();
        return false;
    }
    return true;
}

} // namespace dockgate
