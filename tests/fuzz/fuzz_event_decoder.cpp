// libFuzzer target: Docker /events lines through decode_event and the NDJSON splitter.
//
// The input is the raw byte stream dockerd would send. It is decoded as one line, then split by
// ndjson_splitter twice, once in a single feed and once in chunks whose sizes come from the
// input itself; both splits must produce the same lines (chunking must never change the stream),
// and every line is decoded.
#include "dockgate/docker/docker_event.hpp"
#include "dockgate/docker/ndjson.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"

namespace {

constexpr std::size_t max_line = 512;

void check(const dockgate::decode_result& r) {
    using dockgate::decode_status;
    if (r.status == decode_status::relevant) {
        FUZZ_CHECK(r.event && r.event->container_id.size() == 64);
    } else {
        // Ignored or malformed lines carry no event and always say why.
        FUZZ_CHECK(!r.event && !r.reason.empty());
    }
}

struct split_result {
    std::vector<std::string> lines;
    std::vector<std::size_t> overflows;
};

dockgate::ndjson_splitter make_splitter(split_result& out) {
    return dockgate::ndjson_splitter(
        max_line,
        [&out](std::string_view line) {
            FUZZ_CHECK(!line.empty() && line.size() <= max_line);
            FUZZ_CHECK(line.find('\n') == std::string_view::npos);
            out.lines.emplace_back(line);
        },
        [&out](std::size_t dropped) {
            FUZZ_CHECK(dropped > max_line); // only a line longer than max_line is dropped
            out.overflows.push_back(dropped);
        });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);

    check(dockgate::decode_event(input));

    split_result whole;
    auto one_feed = make_splitter(whole);
    one_feed.feed(input);
    FUZZ_CHECK(one_feed.pending_bytes() <= max_line);

    split_result chunked;
    auto many_feeds = make_splitter(chunked);
    std::size_t pos = 0;
    std::size_t step = 0;
    while (pos < size) {
        // Chunk sizes 1..64 driven by the bytes already seen, so the fuzzer explores boundaries.
        const std::size_t len = 1 + (static_cast<std::size_t>(data[step++ % size]) % 64);
        many_feeds.feed(input.substr(pos, len));
        FUZZ_CHECK(many_feeds.pending_bytes() <= max_line);
        pos += len;
    }
    FUZZ_CHECK(whole.lines == chunked.lines);
    FUZZ_CHECK(whole.overflows == chunked.overflows);

    for (const auto& line : whole.lines) {
        check(dockgate::decode_event(line));
    }
    return 0;
}
