// Thread-local structured log fields and the journald sink that sends them.
#include "dockgate/service/log_fields.hpp"

#include <systemd/sd-journal.h>

#include <sys/uio.h>

namespace dockgate {
namespace {
thread_local std::vector<log_field> scoped_fields;
}

log_scope::log_scope(std::vector<log_field> fields) : count_(fields.size()) {
    for (auto& field : fields) {
        scoped_fields.push_back(std::move(field));
    }
}

log_scope::~log_scope() {
    scoped_fields.resize(scoped_fields.size() - count_);
}

const std::vector<log_field>& log_scope::current() {
    return scoped_fields;
}

int journal_priority(spdlog::level::level_enum level) {
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return 7;
    case spdlog::level::info:
        return 6;
    case spdlog::level::warn:
        return 4;
    case spdlog::level::err:
        return 3;
    case spdlog::level::critical:
        return 2;
    case spdlog::level::off:
    case spdlog::level::n_levels:
        break;
    }
    return 6;
}

void journald_sink::sink_it_(const spdlog::details::log_msg& msg) {
    std::vector<std::string> lines;
    lines.push_back("MESSAGE=" + std::string(msg.payload.data(), msg.payload.size()));
    lines.push_back("PRIORITY=" + std::to_string(journal_priority(msg.level)));
    lines.push_back("SYSLOG_IDENTIFIER=" + identifier_);
    for (const auto& [name, value] : log_scope::current()) {
        lines.push_back(name + "=" + value);
    }
    std::vector<iovec> parts;
    parts.reserve(lines.size());
    for (auto& line : lines) {
        parts.push_back({line.data(), line.size()});
    }
    sd_journal_sendv(parts.data(), static_cast<int>(parts.size()));
}

} // namespace dockgate
