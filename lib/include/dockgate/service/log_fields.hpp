// Structured log fields (CONTAINER_NAME, RULE, ...) attached to spdlog messages, and the journal
// sink.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace dockgate {

using log_field = std::pair<std::string, std::string>;

/// While alive, adds `fields` to every message logged on this thread; scopes nest.
/// Field names follow journald's rules: [A-Z0-9_], not starting with '_'.
class log_scope {
  public:
    explicit log_scope(std::vector<log_field> fields);
    log_scope(const log_scope&) = delete;
    log_scope& operator=(const log_scope&) = delete;
    ~log_scope();
    /// The fields in force on this thread, outermost first.
    static const std::vector<log_field>& current();

  private:
    std::size_t count_;
};

/// Sends each message to the systemd journal with PRIORITY, SYSLOG_IDENTIFIER and the
/// current log_scope fields, so `journalctl -u dockgated CONTAINER_NAME=web` works.
class journald_sink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    explicit journald_sink(std::string identifier) : identifier_(std::move(identifier)) {}

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override;
    void flush_() override {}

  private:
    std::string identifier_;
};

/// syslog priority (journald PRIORITY) of an spdlog level.
int journal_priority(spdlog::level::level_enum level);

} // namespace dockgate
