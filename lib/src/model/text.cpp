// printable(): untrusted text bounded and stripped of control bytes for logs and the terminal.
#include "dockgate/model/text.hpp"

namespace dockgate {

std::string printable(std::string_view text, cut_mark mark) {
    std::string out;
    for (const char c : text.substr(0, printable_max)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (text.size() > printable_max && mark == cut_mark::ellipsis) {
        out += "...";
    }
    return out;
}

} // namespace dockgate
