package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailmon/mailmon/agent/config"
	"github.com/mailmon/mailmon/scripts/testenv"
)

// stallServer accepts connections and never greets, counting how many
// are open at once (a check run holds one open until its timeout).
type stallServer struct {
	addr     string
	mu       sync.Mutex
	open     int
	maxOpen  int
	accepted int
}

func newStallServer(t *testing.T) *stallServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stallServer{addr: l.Addr().String()}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.open++
			s.accepted++
			s.maxOpen = max(s.maxOpen, s.open)
			s.mu.Unlock()
			go func() {
				// The client hangs up when its run times out.
				_, _ = c.Read(make([]byte, 1))
				c.Close()
				s.mu.Lock()
				s.open--
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

func (s *stallServer) stats() (accepted, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.maxOpen
}

func agentFor(t *testing.T, body string) *Agent {
	t.Helper()
	plugin := testenv.Build(t, "./plugins/smtp-banner", "mailmon-check-smtp-banner")
	raw := fmt.Sprintf("[agent]\nplugin_dirs = [%q]\njitter = \"0s\"\n", filepath.Dir(plugin)) + body
	p := filepath.Join(t.TempDir(), "mailmon.toml")
	if err := writeFileBytes(p, raw); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	a := New(cfg, quiet())
	t.Cleanup(a.Close)
	if err := a.Setup(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConcurrencyCap(t *testing.T) {
	s := newStallServer(t)
	body := "max_concurrency = 2\n" // continues the [agent] table agentFor opens
	for i := range 5 {
		body += fmt.Sprintf("[[checks.smtp-banner]]\nname = \"c%d\"\naddress = %q\ntls = \"none\"\ntimeout = \"500ms\"\n", i, s.addr)
	}
	a := agentFor(t, body)
	start := time.Now()
	reports := a.RunOnce(context.Background())
	took := time.Since(start)
	accepted, maxOpen := s.stats()
	if accepted != 5 || maxOpen != 2 {
		t.Errorf("accepted %d, at most %d at once; want 5 runs, 2 at once", accepted, maxOpen)
	}
	// Three waves of 500ms timeouts.
	if took < 1400*time.Millisecond {
		t.Errorf("5 runs of 500ms, 2 at a time, took only %s", took)
	}
	for _, r := range reports {
		if r.Result.Reason != "timeout" || r.Result.Status.String() != "CRITICAL" {
			t.Errorf("%s: %s %s: %s", r.Check.Name, r.Result.Status, r.Result.Reason, r.Result.Message)
		}
	}
}

func TestScheduleNeverOverlapsRunsOfOneInstance(t *testing.T) {
	s := newStallServer(t)
	// Each run lasts its whole timeout, as long as the interval.
	a := agentFor(t, fmt.Sprintf("[[checks.smtp-banner]]\nname = \"slow\"\naddress = %q\ntls = \"none\"\ninterval = \"300ms\"\ntimeout = \"300ms\"\n", s.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 1600*time.Millisecond)
	defer cancel()
	_ = a.Run(ctx)
	accepted, maxOpen := s.stats()
	if maxOpen != 1 {
		t.Errorf("%d runs of one instance were open at once", maxOpen)
	}
	if accepted < 3 || accepted > 6 {
		t.Errorf("%d runs in 1.6s at a 300ms interval", accepted)
	}
}

func TestDefaultMeasurementFollowsCheckName(t *testing.T) {
	if got := defaultMeasurement("smtp-banner"); got != "mailmon_smtp_banner" {
		t.Errorf("defaultMeasurement = %q", got)
	}
}

func writeFileBytes(p, s string) error { return os.WriteFile(p, []byte(s), 0o600) }

// Without an agent run (mailmon test) a crash is reported, and the plugin
// is not left marked as restarting.
func TestCrashWithoutRunIsNotStuckRestarting(t *testing.T) {
	crashes := 0
	s := newSupervised("x", nil, quiet(), func(string, int) { crashes++ })
	s.crashed()
	if s.restarting || crashes != 0 {
		t.Errorf("restarting=%v crashes=%d without a run to restart for", s.restarting, crashes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutting down: an ended plugin is not a crash
	s.setLife(ctx)
	s.crashed()
	if s.restarting || crashes != 0 {
		t.Errorf("restarting=%v crashes=%d during shutdown", s.restarting, crashes)
	}
}
