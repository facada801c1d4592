package checktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/mailmon/mailmon/sdk/host"
)

// Start launches the plugin binary as the agent does (sdk/host) and kills
// it when the test ends. The plugin's log is shown when the test fails.
func Start(t testing.TB, binaryPath string) *host.Plugin {
	t.Helper()
	logs := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	p, err := host.Start(context.Background(), host.Config{Path: binaryPath, Logger: logger})
	if err != nil {
		t.Fatalf("checktest.Start: %v\nplugin log:\n%s", err, logs)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("plugin log:\n%s", logs)
		}
	})
	return p
}

// Build compiles the plugin main package pkg (an import path, or a path
// like "." relative to the test's package directory) with `go build`, in
// the test's module, and returns the binary's path. The binary is named
// mailmon-check-<last element of pkg's import path>. Each package is
// built once per test process.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	p, err := build(pkg)
	if err != nil {
		t.Fatalf("checktest.Build: %v", err)
	}
	return p
}

type buildResult struct {
	once sync.Once
	path string
	err  error
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{} // by package directory
)

func build(pkg string) (string, error) {
	dir, importPath, err := resolve(pkg)
	if err != nil {
		return "", err
	}
	buildMu.Lock()
	b := builds[dir]
	if b == nil {
		b = &buildResult{}
		builds[dir] = b
	}
	buildMu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(dir, importPath) })
	return b.path, b.err
}

// resolve asks the go command, run in the test's working directory, for
// pkg's directory and import path.
func resolve(pkg string) (dir, importPath string, err error) {
	out, err := goCmd("list", "-f", "{{.Dir}}\t{{.ImportPath}}\t{{.Name}}", pkg)
	if err != nil {
		return "", "", err
	}
	parts := strings.Split(strings.TrimSpace(out), "\t")
	if len(parts) != 3 {
		return "", "", fmt.Errorf("go list %s: unexpected output %q", pkg, out)
	}
	if parts[2] != "main" {
		return "", "", fmt.Errorf("%s is package %s, not a plugin's main package", pkg, parts[2])
	}
	return parts[0], parts[1], nil
}

func goBuild(dir, importPath string) (string, error) {
	root, err := binDir()
	if err != nil {
		return "", err
	}
	// One folder per package directory: two plugins may share a last element.
	sum := sha256.Sum256([]byte(dir))
	outDir := filepath.Join(root, hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return "", fmt.Errorf("build %s: %w", importPath, err)
	}
	out := filepath.Join(outDir, "mailmon-check-"+path.Base(importPath))
	// Without DWARF (-w) the link takes a third less time; stack traces
	// keep their file and line.
	if _, err := goCmd("build", "-ldflags=-w", "-o", out, importPath); err != nil {
		return "", err
	}
	// The host refuses group- or world-writable plugins, whatever the umask.
	if err := os.Chmod(out, 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", importPath, err)
	}
	return out, nil
}

func goCmd(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

const binDirPrefix = "mailmon-checktest-"

var (
	binDirOnce sync.Once
	binDirPath string
	binDirErr  error
)

// binDir returns this test process's folder for built plugins. A test
// process has no hook at its very end to remove it, so each one removes
// the folders of processes that have ended instead.
func binDir() (string, error) {
	binDirOnce.Do(func() {
		sweepBinDirs()
		binDirPath = filepath.Join(os.TempDir(), binDirPrefix+strconv.Itoa(os.Getpid()))
		binDirErr = os.MkdirAll(binDirPath, 0o700)
	})
	return binDirPath, binDirErr
}

func sweepBinDirs() {
	if runtime.GOOS == "windows" { // no signal 0 to probe a process with
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), binDirPrefix+"*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), binDirPrefix))
		if err == nil && pid != os.Getpid() && !alive(pid) {
			_ = os.RemoveAll(d)
		}
	}
}

func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// syncBuffer collects the plugin log, written by go-plugin's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
