// Unit tests for the NDJSON splitter: chunking never changes the lines, and one huge line never
// costs the stream.
#include "dockgate/docker/ndjson.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dockgate {
namespace {

/// Collects what a splitter delivers.
struct sink {
    std::vector<std::string> lines;
    std::vector<std::size_t> overflows;
    ndjson_splitter make(std::size_t max_line) {
        return ndjson_splitter(
            max_line, [this](std::string_view line) { lines.emplace_back(line); },
            [this](std::size_t dropped) { overflows.push_back(dropped); });
    }
};

const std::string start_event =
    R"({"status":"start","id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Type":"container","Action":"start"})";
const std::string die_event = R"({"Type":"container","Action":"die","Actor":{"ID":"x"}})";

/// A stream with every feature: LF, CRLF, blank lines, a CR-only line and a partial tail.
const std::string stream =
    start_event + "\n" + die_event + "\r\n" + "\n" + "\r\n" + "{\"a\":1}\n" + "{\"partial\":";

const std::vector<std::string> stream_lines{start_event, die_event, "{\"a\":1}"};

TEST(ndjson, whole_stream) {
    sink s;
    auto splitter = s.make(4096);
    splitter.feed(stream);
    EXPECT_EQ(s.lines, stream_lines);
    EXPECT_TRUE(s.overflows.empty());
    EXPECT_EQ(splitter.pending_bytes(), std::string("{\"partial\":").size());
}

TEST(ndjson, split_at_every_byte_position) {
    for (std::size_t at = 0; at <= stream.size(); ++at) {
        sink s;
        auto splitter = s.make(4096);
        splitter.feed(std::string_view(stream).substr(0, at));
        splitter.feed(std::string_view(stream).substr(at));
        EXPECT_EQ(s.lines, stream_lines) << "split at " << at;
    }
}

TEST(ndjson, split_at_every_pair_of_positions) {
    for (std::size_t first = 0; first <= stream.size(); ++first) {
        for (std::size_t second = first; second <= stream.size(); ++second) {
            sink s;
            auto splitter = s.make(4096);
            const std::string_view all(stream);
            splitter.feed(all.substr(0, first));
            splitter.feed(all.substr(first, second - first));
            splitter.feed(all.substr(second));
            ASSERT_EQ(s.lines, stream_lines) << "split at " << first << " and " << second;
        }
    }
}

TEST(ndjson, byte_by_byte) {
    sink s;
    auto splitter = s.make(4096);
    for (const char c : stream) {
        splitter.feed(std::string_view(&c, 1));
    }
    EXPECT_EQ(s.lines, stream_lines);
}

TEST(ndjson, crlf_and_lf_give_the_same_lines) {
    sink lf;
    sink crlf;
    auto a = lf.make(100);
    auto b = crlf.make(100);
    a.feed("one\ntwo\n");
    b.feed("one\r\ntwo\r\n");
    EXPECT_EQ(lf.lines, crlf.lines);
    EXPECT_EQ(crlf.lines, (std::vector<std::string>{"one", "two"}));
}

TEST(ndjson, empty_lines_are_skipped) {
    sink s;
    auto splitter = s.make(100);
    splitter.feed("\n\n\r\n\nx\n\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"x"});
    EXPECT_TRUE(s.overflows.empty());
}

TEST(ndjson, partial_line_waits_for_its_newline) {
    sink s;
    auto splitter = s.make(100);
    splitter.feed("{\"Type\":");
    EXPECT_TRUE(s.lines.empty());
    EXPECT_EQ(splitter.pending_bytes(), 8U);
    splitter.feed("\"container\"}");
    EXPECT_TRUE(s.lines.empty());
    splitter.feed("\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"{\"Type\":\"container\"}"});
    EXPECT_EQ(splitter.pending_bytes(), 0U);
}

TEST(ndjson, line_of_exactly_the_limit_is_delivered) {
    sink s;
    auto splitter = s.make(10);
    splitter.feed("0123456789\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"0123456789"});
    EXPECT_TRUE(s.overflows.empty());
}

const std::string huge(40, 'x');
const std::string overflow_stream = "short\n" + huge + "\n" + "next\n";

TEST(ndjson, oversized_line_is_dropped_and_reported_once) {
    sink s;
    auto splitter = s.make(16);
    splitter.feed(overflow_stream);
    EXPECT_EQ(s.lines, (std::vector<std::string>{"short", "next"}));
    EXPECT_EQ(s.overflows, std::vector<std::size_t>{40});
}

TEST(ndjson, oversized_line_at_every_split_position) {
    for (std::size_t at = 0; at <= overflow_stream.size(); ++at) {
        sink s;
        auto splitter = s.make(16);
        splitter.feed(std::string_view(overflow_stream).substr(0, at));
        splitter.feed(std::string_view(overflow_stream).substr(at));
        EXPECT_EQ(s.lines, (std::vector<std::string>{"short", "next"})) << "split at " << at;
        EXPECT_EQ(s.overflows, std::vector<std::size_t>{40}) << "split at " << at;
    }
}

TEST(ndjson, oversized_line_byte_by_byte_keeps_memory_bounded) {
    sink s;
    auto splitter = s.make(16);
    for (const char c : std::string(100000, 'y')) {
        splitter.feed(std::string_view(&c, 1));
        ASSERT_LE(splitter.pending_bytes(), 16U);
    }
    splitter.feed("\nafter\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"after"});
    EXPECT_EQ(s.overflows, std::vector<std::size_t>{100000});
}

TEST(ndjson, one_past_the_limit_is_dropped) {
    sink s;
    auto splitter = s.make(10);
    splitter.feed("01234567890\nok\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"ok"});
    EXPECT_EQ(s.overflows, std::vector<std::size_t>{11});
}

TEST(ndjson, two_oversized_lines_in_a_row) {
    sink s;
    auto splitter = s.make(4);
    splitter.feed("aaaaaa\nbbbbbbbb\nc\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"c"});
    EXPECT_EQ(s.overflows, (std::vector<std::size_t>{6, 8}));
}

TEST(ndjson, reset_forgets_a_partial_line) {
    sink s;
    auto splitter = s.make(100);
    splitter.feed("{\"from\":\"the old connection");
    splitter.reset();
    EXPECT_EQ(splitter.pending_bytes(), 0U);
    splitter.feed("{\"new\":1}\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"{\"new\":1}"});
}

TEST(ndjson, reset_ends_discarding) {
    sink s;
    auto splitter = s.make(4);
    splitter.feed("far too long for the limit");
    splitter.reset();
    splitter.feed("ok\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"ok"});
    EXPECT_TRUE(s.overflows.empty()) << "the dropped line belonged to the old connection";
}

TEST(ndjson, empty_feed_changes_nothing) {
    sink s;
    auto splitter = s.make(100);
    splitter.feed("");
    splitter.feed("ab");
    splitter.feed("");
    EXPECT_EQ(splitter.pending_bytes(), 2U);
    splitter.feed("\n");
    EXPECT_EQ(s.lines, std::vector<std::string>{"ab"});
}

} // namespace
} // namespace dockgate
