package main

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/checktest"
)

// TestRunTimeoutHang connects to a listener whose accept queue is full:
// Linux then drops the SYN, so the connect hangs as it does behind a
// firewall that drops packets.
func TestRunTimeoutHang(t *testing.T) {
	addr := fullListener(t)
	c := &TCPConnect{}
	checktest.Configure(t, c, fmt.Sprintf(`{"address": %q, "timeout": "300ms", "warning": "0s", "critical": "0s"}`, addr))
	start := time.Now()
	res := checktest.Run(t, c, 5*time.Second)
	if res.Status != sdk.Critical || res.Reason != "timeout" {
		t.Errorf("got %v %s (%s), want CRITICAL timeout", res.Status, res.Reason, res.Message)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %s, want about the 300ms timeout", took)
	}
}

// fullListener listens with a backlog of 0 and never accepts; one
// connection fills the queue.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	first, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("fill the accept queue: %v", err)
	}
	t.Cleanup(func() { first.Close() })
	return addr
}
