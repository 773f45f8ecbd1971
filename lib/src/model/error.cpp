// The error category behind dockgate::errc.
#include "dockgate/model/error.hpp"

#include <string>

// Boost's error_category has a protected non-virtual destructor by design.
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"

namespace dockgate {
namespace {

class dockgate_category_impl final : public boost::system::error_category {
  public:
    [[nodiscard]] const char* name() const noexcept override { return "dockgate"; }
    [[nodiscard]] std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::ok:
            return "success";
        case errc::docker_unreachable:
            return "Docker socket unreachable";
        case errc::docker_bad_reply:
            return "malformed reply from Docker";
        case errc::docker_reply_too_large:
            return "reply from Docker over the size limit";
        case errc::docker_not_found:
            return "no such container";
        case errc::docker_http_error:
            return "Docker returned an HTTP error";
        case errc::api_version_unsupported:
            return "Docker API version not supported";
        case errc::events_stream_ended:
            return "Docker event stream ended";
        case errc::timeout:
            return "deadline passed";
        case errc::ufw_failed:
            return "ufw failed";
        case errc::ufw_timeout:
            return "ufw did not finish before its deadline";
        case errc::ufw_unexpected_output:
            return "ufw output did not confirm the change";
        case errc::rules_file_unreadable:
            return "ufw rules file unreadable";
        case errc::shutting_down:
            return "closed by dockgate (to resync or to stop)";
        case errc::executor_unavailable:
            return "privileged executor unavailable";
        case errc::executor_refused:
            return "privileged executor refused the request";
        case errc::rules_file_unwritable:
            return "ufw rules file not writable";
        case errc::ufw_lock_timeout:
            return "ufw's lock is held by another ufw run";
        }
        return "unknown dockgate error";
    }
};

} // namespace

const boost::system::error_category& dockgate_category() noexcept {
    static const dockgate_category_impl instance;
    return instance;
}

} // namespace dockgate
