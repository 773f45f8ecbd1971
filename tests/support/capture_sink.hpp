// A spdlog sink that keeps each message with the structured fields journald would receive.
#pragma once

#include "dockgate/service/log_fields.hpp"

#include <spdlog/sinks/base_sink.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace dockgate::testing {

struct captured_message {
    int priority = 0;
    std::string text;
    std::map<std::string, std::string> fields;
};

class capture_sink final : public spdlog::sinks::base_sink<std::mutex> {
  public:
    std::vector<captured_message> messages() {
        const std::lock_guard lock(mutex_);
        return messages_;
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        captured_message m{
            journal_priority(msg.level), std::string(msg.payload.data(), msg.payload.size()), {}};
        for (const auto& [name, value] : log_scope::current()) {
            m.fields[name] = value;
        }
        messages_.push_back(std::move(m));
    }
    void flush_() override {}

  private:
    std::vector<captured_message> messages_;
};

} // namespace dockgate::testing
