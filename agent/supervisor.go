package agent

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/host"
)

// Restart backoff after a plugin crash: doubling from min to max, reset
// once a restarted process survives a full max period.
const (
	restartBackoffMin = 500 * time.Millisecond
	restartBackoffMax = time.Minute
	watchInterval     = 500 * time.Millisecond
)

// supervised is one plugin process shared by all instances of its check.
type supervised struct {
	name string
	p    *host.Plugin
	log  *slog.Logger
	// onCrash is called once per detected crash, before the restart.
	onCrash func(name string, restarts int)

	mu sync.Mutex
	// life bounds restarts: the agent's run, not one check's run. Nil
	// (mailmon test) reports a crash without restarting.
	life       context.Context
	restarting bool
	restarts   int
	backoff    time.Duration
	lastStart  time.Time
}

func newSupervised(name string, p *host.Plugin, log *slog.Logger, onCrash func(string, int)) *supervised {
	return &supervised{name: name, p: p, log: log, onCrash: onCrash, backoff: restartBackoffMin, lastStart: time.Now()}
}

// errUnavailable is a run attempted while the plugin is being restarted.
var errUnavailable = errors.New("plugin is restarting after a crash")

// run runs an instance; a dead process starts a restart and the run
// reports the crash.
func (s *supervised) run(ctx context.Context, instance string) (*sdk.Result, error) {
	s.mu.Lock()
	restarting := s.restarting
	s.mu.Unlock()
	if restarting {
		return nil, errUnavailable
	}
	res, err := s.p.Run(ctx, instance)
	if errors.Is(err, host.ErrExited) {
		s.crashed()
	}
	return res, err
}

// setLife makes crashes restart the plugin until ctx ends; without it
// (mailmon test) a crash is only reported.
func (s *supervised) setLife(ctx context.Context) {
	s.mu.Lock()
	s.life = ctx
	s.mu.Unlock()
}

// watch notices a plugin that dies between runs.
func (s *supervised) watch(ctx context.Context) {
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.p.Exited() {
				s.crashed()
			}
		}
	}
}

// crashed starts one restart loop, whoever noticed first.
func (s *supervised) crashed() {
	s.mu.Lock()
	ctx := s.life
	if s.restarting || ctx == nil || ctx.Err() != nil {
		// Already handled; no agent run to restart it for (mailmon test,
		// which reports the crash); or shutting down, when plugins end on
		// purpose.
		s.mu.Unlock()
		return
	}
	s.restarting = true
	if time.Since(s.lastStart) > restartBackoffMax {
		s.backoff = restartBackoffMin
	}
	s.restarts++
	n := s.restarts
	s.mu.Unlock()

	s.log.Error("plugin process exited unexpectedly; restarting", "plugin", s.name, "path", s.p.Path(), "restarts", n)
	if s.onCrash != nil {
		s.onCrash(s.name, n)
	}
	go s.restartLoop(ctx)
}

func (s *supervised) restartLoop(ctx context.Context) {
	for {
		s.mu.Lock()
		wait := s.backoff
		s.backoff = min(s.backoff*2, restartBackoffMax)
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			s.setRestarting(false)
			return
		case <-time.After(wait):
		}
		err := s.p.Restart(ctx)
		if err == nil {
			s.mu.Lock()
			s.restarting = false
			s.lastStart = time.Now()
			s.mu.Unlock()
			s.log.Info("plugin restarted", "plugin", s.name, "pid", s.p.Pid())
			return
		}
		s.log.Error("plugin restart failed", "plugin", s.name, "err", err, "retry_in", min(wait*2, restartBackoffMax))
	}
}

func (s *supervised) setRestarting(v bool) {
	s.mu.Lock()
	s.restarting = v
	s.mu.Unlock()
}

func (s *supervised) restartCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

func (s *supervised) up() bool {
	s.mu.Lock()
	r := s.restarting
	s.mu.Unlock()
	return !r && !s.p.Exited()
}
