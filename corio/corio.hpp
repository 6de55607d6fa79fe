// SPDX-License-Identifier: MIT
//
// The one include for users of corio.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/future.hpp>
#include <corio/core/io.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/run.hpp>
#include <corio/core/task.hpp>
#include <corio/core/time.hpp>
