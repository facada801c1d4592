// Package testenv finds, for Go tests, the real servers that the scripts in
// this folder start: the loopback mail stack (scripts/mailstack) and the
// slim Telegraf (scripts/build-telegraf). `make test` starts them first.
// A test that needs one fails when it is missing, with the command that
// provides it; under `go test -short` such tests skip and say why.
package testenv

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RepoRoot returns the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Integration marks t as needing real servers: it skips under -short.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the real servers that `make test` starts (run without -short)")
	}
}

// MailStack returns the mail stack's variables (MAILSTACK_SMTP,
// MAILSTACK_CA, ...) after checking that its SMTP port answers.
func MailStack(t testing.TB) map[string]string {
	t.Helper()
	Integration(t)
	out, err := exec.Command(filepath.Join(RepoRoot(), "scripts", "mailstack"), "env").Output()
	if err != nil {
		t.Fatalf("scripts/mailstack env: %v (start the stack with `scripts/mailstack up`; `make test` does)", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = v
		}
	}
	addr := env["MAILSTACK_SMTP"]
	if addr == "" {
		t.Fatalf("scripts/mailstack env printed no MAILSTACK_SMTP:\n%s", out)
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("mail stack is not up (%v): run `scripts/mailstack up` (`make test` does)", err)
	}
	c.Close()
	return env
}

// Telegraf returns the path of the slim Telegraf binary.
func Telegraf(t testing.TB) string {
	t.Helper()
	Integration(t)
	p := os.Getenv("MAILMON_TELEGRAF")
	if p == "" {
		p = filepath.Join(RepoRoot(), ".cache", "bin", "telegraf")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("telegraf not found at %s: run `scripts/build-telegraf` (`make test` does)", p)
	}
	return p
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// Build compiles the main package pkg (an import path or ./relative to
// the repo root) once per test binary and returns the executable's path,
// named name, in a folder that lives as long as the test process.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "\x00" + name
	if p, ok := buildCache[key]; ok {
		return p
	}
	dir, err := TempDir("testbin")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	buildCache[key] = out
	return out
}

var sweepOnce sync.Once

// TempDir makes a folder that outlives single tests (binaries shared by a
// test process), named with the process id. Folders of test processes
// that have ended are removed first, so repeated runs leave nothing
// behind.
func TempDir(kind string) (string, error) {
	sweepOnce.Do(sweepTempDirs)
	return os.MkdirTemp("", fmt.Sprintf("mailmon-%d-", os.Getpid())+kind+"-")
}

func sweepTempDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "mailmon-*-*-*"))
	for _, m := range matches {
		parts := strings.SplitN(filepath.Base(m), "-", 3)
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // that test process still runs
		}
		_ = os.RemoveAll(m)
	}
}

// FreePort returns a loopback TCP address nothing listens on right now.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
