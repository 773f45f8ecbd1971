// dockgate's error codes: one enum for every failure the daemon reports, as std-style error_codes.
#pragma once

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace dockgate {

enum class errc {
    ok = 0,
    /// The Docker socket could not be reached (missing, refused, or permission denied).
    docker_unreachable = 1,
    /// Docker answered with something that is not the HTTP/JSON we expect.
    docker_bad_reply,
    /// Docker answered 404: the container (or endpoint) does not exist.
    docker_not_found,
    /// Docker answered with an HTTP error status other than 404.
    docker_http_error,
    /// The Engine's API version is older than dockgate supports.
    api_version_unsupported,
    /// The /events stream ended (the daemon closed it, with or without the last chunk).
    events_stream_ended,
    /// A request or health check passed its deadline.
    timeout,
    /// ufw could not be started or exited with an error.
    ufw_failed,
    /// ufw did not finish before its deadline and was killed.
    ufw_timeout,
    /// ufw exited 0 but printed something that does not confirm the requested change.
    ufw_unexpected_output,
    /// ufw's rules file could not be read.
    rules_file_unreadable,
    /// The operation was cancelled by dockgate itself: a resync closed the stream, or it is
    /// stopping.
    shutting_down,
    /// The privileged executor could not be reached or did not answer in time.
    executor_unavailable,
    /// The privileged executor refused a request as malformed.
    executor_refused,
    /// ufw's rules file could not be written (read-only, full, ...); it was left as it was.
    rules_file_unwritable,
    /// Another ufw run held ufw's lock past the deadline.
    ufw_lock_timeout,
    /// A Docker reply was larger than docker_settings::max_reply_bytes.
    docker_reply_too_large,
};

const boost::system::error_category& dockgate_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), dockgate_category()};
}

} // namespace dockgate

template <> struct boost::system::is_error_code_enum<dockgate::errc> : std::true_type {};
