// SPDX-License-Identifier: MIT
//
// All of corio's network layer in one include: addresses, the resolver,
// TCP, UDP, unix sockets and buffered framing. (HTTP lives in net/http and
// has its own includes.)
#pragma once

#include <corio/net/address.hpp>
#include <corio/net/buffered.hpp>
#include <corio/net/resolver.hpp>
#include <corio/net/socket.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/udp.hpp>
#include <corio/net/unix.hpp>
