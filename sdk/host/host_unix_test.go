//go:build unix

package host_test

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk/host"
)

func TestKilledProcessRestarts(t *testing.T) {
	t.Parallel()
	p := startTest(t)
	configure(t, p, "a", `{"label": "a"}`)
	configure(t, p, "b", `{"label": "b"}`)
	run(t, p, "a", 5*time.Second)
	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err, _ := runErr(t, p, "a", 5*time.Second)
	if !errors.Is(err, host.ErrExited) || !p.Exited() || p.Pid() != 0 {
		t.Fatalf("after SIGKILL: %v (exited %v, pid %d), want ErrExited", err, p.Exited(), p.Pid())
	}
	restartAndRun(t, p, "a")
	if p.Pid() == pid {
		t.Errorf("pid %d unchanged after restart", pid)
	}
	if res := run(t, p, "b", 5*time.Second); res.Message != "b" {
		t.Errorf("instance b after restart: %+v", res)
	}
}
