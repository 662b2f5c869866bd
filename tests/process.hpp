#pragma once
// Child processes for end-to-end tests: the edged binary, redis-server, curl.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

extern char** environ;

namespace edged::test {

using namespace std::chrono_literals;

// A child process with its stdout (and stderr) collected line by line on a reader thread.
class process {
public:
    explicit process(std::vector<std::string> args) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        REQUIRE(rc == 0);
        reader_ = std::thread([this, fd = fds[0]] { read_lines(fd); });
    }
    ~process() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            wait_exit(std::chrono::seconds(5));
        }
        if (reader_.joinable()) reader_.join();
    }

    void signal(int sig) { ::kill(pid_, sig); }
    pid_t pid() const { return pid_; }

    // Waits for the exit; returns the exit code, or -1 on timeout (the process is then killed).
    // Once it returns, output() holds all the process wrote: the reader has seen the pipe's end.
    int wait_exit(std::chrono::milliseconds limit) {
        auto end = std::chrono::steady_clock::now() + limit;
        int code = -1;
        for (;;) {
            int status = 0;
            pid_t r = ::waitpid(pid_, &status, WNOHANG);
            if (r == pid_) {
                code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                break;
            }
            if (std::chrono::steady_clock::now() >= end) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(10ms);
        }
        exited_ = true;
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, 10s, [&] { return eof_; });
        return code;
    }

    // Waits for a line containing `needle`; returns it, or "" after `limit`.
    std::string wait_line(const std::string& needle, std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mu_);
        std::string found;
        cv_.wait_for(lock, limit, [&] {
            for (const auto& l : lines_)
                if (l.find(needle) != std::string::npos) {
                    found = l;
                    return true;
                }
            return eof_;
        });
        return found;
    }
    // Waits until `n` lines contain `needle`; returns how many do (fewer after `limit`).
    std::size_t wait_count(const std::string& needle, std::size_t n,
                           std::chrono::milliseconds limit = 10s) {
        std::unique_lock lock(mu_);
        std::size_t seen = 0;
        cv_.wait_for(lock, limit, [&] {
            seen = 0;
            for (const auto& l : lines_)
                if (l.find(needle) != std::string::npos) ++seen;
            return seen >= n || eof_;
        });
        return seen;
    }
    std::string output() {
        std::lock_guard lock(mu_);
        std::string all;
        for (const auto& l : lines_) all += l + "\n";
        return all;
    }

private:
    void read_lines(int fd) {
        std::string partial;
        char buf[4096];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            partial.append(buf, static_cast<std::size_t>(n));
            std::size_t pos;
            while ((pos = partial.find('\n')) != std::string::npos) {
                std::lock_guard lock(mu_);
                lines_.push_back(partial.substr(0, pos));
                partial.erase(0, pos + 1);
                cv_.notify_all();
            }
        }
        ::close(fd);
        std::lock_guard lock(mu_);
        if (!partial.empty()) lines_.push_back(partial);
        eof_ = true;
        cv_.notify_all();
    }

    pid_t pid_ = -1;
    bool exited_ = false;
    std::thread reader_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> lines_;
    bool eof_ = false;
};

}  // namespace edged::test
