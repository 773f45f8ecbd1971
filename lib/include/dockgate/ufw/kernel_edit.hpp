// A batch's change to the kernel, rule by rule: appends, and deletes by nft handle (pure).
#pragma once

#include "dockgate/ufw/rules_document.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dockgate {

/// One rule in the kernel: its chain and the nft handle the kernel gave it.
struct kernel_rule {
    std::string chain;
    std::uint64_t handle = 0;
    friend bool operator==(const kernel_rule&, const kernel_rule&) = default;
};

/// The chains of ufw's user rules (and of their logging and rate limits), all in user6.rules.
inline constexpr std::string_view ufw_user_chain_prefix = "ufw6-user-";

/// One notification of the kernel's nf_tables (see nft_messages.hpp), as far as ufw's user
/// chains are concerned.
struct monitor_line {
    enum class kind {
        ignored,      ///< another table or chain, or nothing we read
        rule_added,   ///< a rule added to <chain>, with its handle
        rule_deleted, ///< a rule deleted from <chain>, by handle
        reset,      ///< a ufw chain or the table deleted or flushed as a whole, or a rule replaced
        generation, ///< the end of a transaction, with the thread that committed it
        lost,       ///< notifications were lost: nothing since can be trusted
    };
    kind what = kind::ignored;
    std::string chain;
    std::uint64_t handle = 0;
    long pid = 0; ///< for `generation`, the committing thread's id (0: unknown)
};

/// One iptables-restore command line of a rules text ("-A chain ..." or "-I chain ...").
struct chain_line {
    std::string_view chain;
    std::string_view text; ///< the whole line, without its newline
};
/// The command lines of `text`, in order.
std::vector<chain_line> chain_lines(std::string_view text);

/// The nft handles of dockgate's rules in ufw's chains, learned from the kernel's own report of
/// our loads (the monitor), so that a removal deletes exactly those rules and nothing is read
/// back. Known only while every change to ufw's chains since the last full load was ours.
class kernel_handles {
  public:
    [[nodiscard]] bool known() const { return known_; }
    /// After a change we did not make, a lost report or any doubt: the next batch loads in full.
    void forget();
    /// After loading the whole of `doc` (ip6tables-restore of the file, which flushes ufw's
    /// chains first): its n-th command line is the n-th added rule the kernel reported.
    /// False (and nothing known) when the report does not fit the document.
    bool learn_load(const rules_document& doc, const std::vector<monitor_line>& events);
    /// After appending the lines of `blocks`, in order, in one transaction.
    bool learn_appends(const std::vector<rules_block>& blocks,
                       const std::vector<monitor_line>& events);
    /// The kernel rules of a dockgate block, one per command line; nullptr when not known.
    [[nodiscard]] const std::vector<kernel_rule>* find(const rules_block& block) const;
    void erase(const rules_block& block);
    /// A block re-tagged in place (same command lines): its rules keep their handles.
    void rename(const rules_block& from, const rules_block& to);
    [[nodiscard]] std::size_t size() const { return by_block_.size(); }

  private:
    void remember(const rules_block& block, std::vector<kernel_rule> rules);

    bool known_ = false;
    /// Keyed by the block's text; two blocks of the same text leave that key ambiguous (empty).
    std::unordered_map<std::string, std::vector<kernel_rule>> by_block_;
};

/// The kernel side of a batch, when it can be done rule by rule.
struct kernel_edit {
    /// For `ip6tables-restore -n`: the new blocks' lines, appended (no chain is flushed).
    /// Empty when nothing is added.
    std::string append_script;
    std::vector<rules_block> appended;
    /// The kernel rules of the removed blocks, to delete by handle in one transaction.
    std::vector<kernel_rule> deletes;
};

/// Plans `changes` (made by a document_editor to give `now`) as appends and handle deletes;
/// nullopt with `why` when it needs the whole file loaded: handles not known, a removed block
/// whose handles are not known, a block replaced by different command lines, or an appended
/// line whose chain has lines after the rules (ufw's footer), where an append would not land.
std::optional<kernel_edit> plan_kernel_edit(const rules_document& now,
                                            const document_changes& changes,
                                            const kernel_handles& handles, std::string& why);

/// Updates `handles` for a plan that the kernel took, `appends` being what the monitor reported
/// for the append script (empty when there was none). False when the report did not fit.
bool record_kernel_edit(kernel_handles& handles, const document_changes& changes,
                        const kernel_edit& edit, const std::vector<monitor_line>& appends);

} // namespace dockgate
