// SPDX-License-Identifier: MIT
//
// The one include for users of corio.
#pragma once

#include <corio/core/async_generator.hpp>
#include <corio/core/combinators.hpp>
#include <corio/core/coroutine.hpp>
#include <corio/core/error.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/core/future.hpp>
#include <corio/core/generator.hpp>
#include <corio/core/io.hpp>
#include <corio/core/join_handle.hpp>
#include <corio/core/run.hpp>
#include <corio/core/runtime.hpp>
#include <corio/core/signal_set.hpp>
#include <corio/core/sync.hpp>
#include <corio/core/task.hpp>
#include <corio/core/task_group.hpp>
#include <corio/core/thread_pool.hpp>
#include <corio/core/time.hpp>

