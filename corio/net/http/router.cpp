// SPDX-License-Identifier: MIT
//
// The route tables; see router.hpp.
#include <corio/net/http/router.hpp>

#include <algorithm>
#include <stdexcept>

namespace corio::http {

namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool prefix_matches(std::string_view prefix, std::string_view path) noexcept {
    if (!path.starts_with(prefix)) return false;
    return prefix.back() == '/' || path.size() == prefix.size() || path[prefix.size()] == '/';
}

} // namespace

void router::add(std::string_view methods, std::string path, handler h, route_options options) {
    add_to(exact_, methods, std::move(path), std::move(h), options);
}

void router::add_prefix(std::string_view methods, std::string prefix, handler h, route_options options) {
    add_to(prefix_, methods, std::move(prefix), std::move(h), options);
    std::stable_sort(prefix_.begin(), prefix_.end(),
                     [](const entry& a, const entry& b) { return a.path.size() > b.path.size(); });
}

void router::add_to(std::vector<entry>& table, std::string_view methods, std::string path, handler h,
                    route_options options) {
    if (path.empty() || path.front() != '/')
        throw std::invalid_argument("corio: route path must start with '/': \"" + path + "\"");
    if (!h) throw std::invalid_argument("corio: empty handler for route \"" + path + "\"");
    auto it = std::find_if(table.begin(), table.end(), [&](const entry& e) { return e.path == path; });
    if (it == table.end()) {
        table.push_back(entry{std::move(path), {}, {}});
        it = table.end() - 1;
    }
    while (!methods.empty()) {
        std::size_t comma = methods.find(',');
        std::string_view m = trim(methods.substr(0, comma));
        methods = comma == std::string_view::npos ? std::string_view{} : methods.substr(comma + 1);
        if (m.empty()) continue;
        for (const method_route& r : it->methods)
            if (r.method == m)
                throw std::invalid_argument("corio: method " + std::string(m) + " already routed on \"" +
                                            it->path + "\"");
        it->methods.push_back(method_route{std::string(m), h, options});
    }
    // Allow: the methods in registration order, HEAD after GET when only GET was given.
    std::string allow;
    auto has = [&](std::string_view m) {
        return std::any_of(it->methods.begin(), it->methods.end(), [&](const method_route& r) { return r.method == m; });
    };
    for (const method_route& r : it->methods) {
        if (r.method == "*") continue;
        if (!allow.empty()) allow += ", ";
        allow += r.method;
        if (r.method == "GET" && !has("HEAD")) allow += ", HEAD";
    }
    it->allow = std::move(allow);
}

router::match router::pick(const entry& e, std::string_view method, std::string_view prefix) const noexcept {
    const method_route* any = nullptr;
    const method_route* get = nullptr;
    for (const method_route& r : e.methods) {
        if (r.method == method) return {&r.h, r.options, 0, {}, prefix};
        if (r.method == "*") any = &r;
        if (r.method == "GET") get = &r;
    }
    if (method == "HEAD" && get) return {&get->h, get->options, 0, {}, prefix};
    if (any) return {&any->h, any->options, 0, {}, prefix};
    return {nullptr, {}, 405, e.allow, prefix};
}

router::match router::find(std::string_view method, std::string_view path) const noexcept {
    for (const entry& e : exact_)
        if (e.path == path) return pick(e, method, {});
    for (const entry& e : prefix_)
        if (prefix_matches(e.path, path)) return pick(e, method, e.path);
    return {nullptr, {}, 404, {}, {}};
}

} // namespace corio::http
