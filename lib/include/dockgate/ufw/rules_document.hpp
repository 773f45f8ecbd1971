// ufw's user6.rules as an editable document: header, one block per rule, footer; edited as ufw
// edits it.
#pragma once

#include "dockgate/reconcile/plan.hpp"
#include "dockgate/ufw/ufw_output.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dockgate {

/// One rule of the file: the blank line, the "### tuple ###" line and its iptables lines.
struct rules_block {
    std::string tuple;       ///< tuple text without " comment=..."
    std::string comment_hex; ///< ufw's hex comment, empty when the rule has none
    std::string text;        ///< the block exactly as in the file, starting with "\n### tuple ### "
};

/// A rules file split where ufw's _write_rules() joins it. Rendering an unedited document gives
/// back the input byte for byte.
struct rules_document {
    std::string header; ///< up to and including "### RULES ###\n"
    std::vector<rules_block> blocks;
    std::string footer; ///< from "\n### END RULES ###\n" to the end
    [[nodiscard]] std::string render() const;
    /// Only the rule blocks, as they appear between the RULES markers.
    [[nodiscard]] std::string render_rules() const;
};

/// Splits a rules file; nullopt (with `why`) when the RULES markers are missing or something
/// other than rule blocks stands between them.
std::optional<rules_document> parse_rules_document(std::string_view text,
                                                   std::string* why = nullptr);

/// True for rules the generator can write itself: IPv6 allow rules (with or without logging).
/// Rate-limited rules depend on a kernel capability that `ufw --dry-run` cannot probe, so they
/// always go through the ufw command line.
bool batchable(const rule& r);

/// The block ufw writes for `r` carrying `comment` (format_rule and _get_rules_from_formatted
/// in ufw's backend). Only for batchable rules.
std::string render_rule_block(const rule& r, std::string_view comment);

/// True for a block with a valid dockgate tag on a rule shape dockgate writes.
bool owned_by_dockgate(const rules_block& block);

/// How a batch of operations changed a document, block by block: what the kernel must change.
struct document_changes {
    std::vector<rules_block> removed; ///< blocks of the document as it was, now gone
    /// Blocks of the document as it was, each with the block that replaced it in place.
    std::vector<std::pair<rules_block, rules_block>> replaced;
    std::size_t first_appended = 0; ///< blocks from this index on are new, at the end
};

/// Applies operations to a document one by one, the way `ufw [route] allow|delete ... comment C`
/// changes the rules list: an add appends, replaces a dockgate rule of the same match in place
/// (new comment, action or logging: "Rule updated") or is skipped when identical; a remove
/// deletes the first block with exactly this tuple and comment. A rule of the same match that
/// is not dockgate's is never replaced (error), although ufw itself would overwrite it.
/// Indexed once for `ops` (which it then applies one by one, in order), so a batch costs one
/// pass over the document plus the operations.
class document_editor {
  public:
    document_editor(rules_document& doc, const std::vector<rule_op>& ops);
    ufw_verdict apply(const rule_op& op);
    /// Drops the removed blocks from the document and says what changed since construction;
    /// the editor is spent after this.
    document_changes finish();

  private:
    struct slot {
        bool alive = true;
        bool appended = false;               ///< not in the document as it was
        std::optional<rules_block> original; ///< the block as it was, once replaced
    };
    /// The first live block whose `key_of` equals `key` and that `accept` takes.
    template <typename Accept>
    std::optional<std::size_t> first(const std::unordered_multimap<std::string, std::size_t>& index,
                                     const std::string& key, Accept accept) const;
    void index_block(std::size_t at);

    rules_document& doc_;
    std::vector<slot> slots_;
    std::unordered_multimap<std::string, std::size_t> by_match_; ///< ufw_match_key -> block
    std::unordered_multimap<std::string, std::size_t> by_tuple_; ///< tuple -> block
};

/// One operation through a document_editor (so the cost is linear in the document).
ufw_verdict apply_to_document(rules_document& doc, const rule_op& op);

/// Compares a document with what `ufw --dry-run` printed for the same change. The rule blocks
/// must match byte for byte; header and footer too, except the rate-limit chains and section,
/// which a dry run always leaves out (it cannot probe the kernel) while a real run writes them
/// when the kernel supports them. Returns nullopt when equal, else the first difference.
std::optional<std::string> compare_with_dry_run(const rules_document& ours,
                                                std::string_view dry_run_output);

} // namespace dockgate
