// Package host starts mailmon check plugins and talks to them: the agent's
// half of the plugin protocol. It launches a plugin binary with mutual TLS,
// verifies an optional sha256 pin, dispenses the check, detects a crash and
// restarts the process with every instance configured again.
package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mailmon/mailmon/sdk"
	"github.com/mailmon/mailmon/sdk/internal/pluginrpc"
)

// ProtocolMajor is the plugin protocol version this host speaks.
const ProtocolMajor = pluginrpc.ProtocolMajor

// RunGrace is how long past a run's deadline the host waits for the
// plugin's answer before giving up on it.
const RunGrace = 2 * time.Second

// ErrExited is returned (wrapped) by calls to a plugin whose process has
// ended; Restart brings it back.
var ErrExited = errors.New("plugin process exited")

// Config says which binary to start and how.
type Config struct {
	// Path is the plugin executable.
	Path string
	// SHA256 pins the binary's hex sha256; empty means no pin.
	SHA256 string
	// Logger receives the plugin's log lines and go-plugin's own; nil
	// discards them.
	Logger hclog.Logger
	// StartTimeout bounds the handshake; default 10s.
	StartTimeout time.Duration
}

// Plugin is one running plugin process and the instances configured in it.
// It is safe for concurrent use.
type Plugin struct {
	cfg Config

	mu      sync.Mutex
	client  *plugin.Client
	rpc     pluginrpc.CheckClient
	info    sdk.Info
	minor   uint32
	configs map[string][]byte // replayed into a restarted process
	starts  int
}

// CheckFile refuses a plugin binary that is not a regular executable file
// or that users other than its owner may write (a plugin runs with the
// agent's privileges).
func CheckFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", path)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: not executable", path)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: refusing a group- or world-writable plugin (mode %04o); chmod go-w it", path, st.Mode().Perm())
	}
	return nil
}

// FileSHA256 returns the hex sha256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Start launches the plugin and reads its Info.
func Start(ctx context.Context, cfg Config) (*Plugin, error) {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	p := &Plugin{cfg: cfg, configs: map[string][]byte{}}
	if err := p.launch(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plugin) launch(ctx context.Context) error {
	path := p.cfg.Path
	if err := CheckFile(path); err != nil {
		return err
	}
	var secure *plugin.SecureConfig
	if p.cfg.SHA256 != "" {
		want, err := hex.DecodeString(strings.ToLower(p.cfg.SHA256))
		if err != nil || len(want) != sha256.Size {
			return fmt.Errorf("%s: sha256 pin %q is not 64 hex digits", path, p.cfg.SHA256)
		}
		got, err := FileSHA256(path)
		if err != nil {
			return err
		}
		if got != strings.ToLower(p.cfg.SHA256) {
			return fmt.Errorf("%s: sha256 is %s, pinned %s: refusing to start it", path, got, strings.ToLower(p.cfg.SHA256))
		}
		// go-plugin checks again just before exec.
		secure = &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	cmd := exec.Command(path)
	ownProcessGroup(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginrpc.Handshake,
		Plugins:          pluginrpc.PluginSet(nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     p.cfg.StartTimeout,
		Logger:           p.cfg.Logger,
	})
	rpcClient, err := client.Client()
	if err != nil {
		client.Kill()
		return fmt.Errorf("%s: start: %w", path, err)
	}
	raw, err := rpcClient.Dispense(pluginrpc.PluginName)
	if err != nil {
		client.Kill()
		return fmt.Errorf("%s: dispense: %w", path, err)
	}
	rpc := raw.(pluginrpc.CheckClient)
	ictx, cancel := context.WithTimeout(ctx, p.cfg.StartTimeout)
	defer cancel()
	info, err := rpc.Info(ictx, &pluginrpc.InfoRequest{})
	if err != nil {
		client.Kill()
		return fmt.Errorf("%s: info: %w", path, err)
	}
	if info.Name == "" {
		client.Kill()
		return fmt.Errorf("%s: plugin reports no check name", path)
	}
	p.client, p.rpc, p.minor = client, rpc, info.ProtocolMinor
	p.info = sdk.Info{Name: info.Name, Version: info.Version, Description: info.Description, SampleConfig: info.SampleConfig}
	p.starts++
	return nil
}

// Info returns what the plugin reported at start.
func (p *Plugin) Info() sdk.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// Protocol returns the negotiated major and the plugin's minor version.
func (p *Plugin) Protocol() (major, minor int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client.NegotiatedVersion(), int(p.minor)
}

// Path returns the plugin binary's path.
func (p *Plugin) Path() string { return p.cfg.Path }

// Pid returns the plugin process id, or 0 when it is not running.
func (p *Plugin) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || p.client.Exited() {
		return 0
	}
	if rc := p.client.ReattachConfig(); rc != nil && rc.Pid != 0 {
		return rc.Pid
	}
	return 0
}

// Starts counts launches: 1 after Start, +1 per Restart.
func (p *Plugin) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Exited reports whether the plugin process has ended.
func (p *Plugin) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.client == nil || p.client.Exited()
}

func (p *Plugin) current() (pluginrpc.CheckClient, *plugin.Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rpc, p.client
}

// callError tells a dead process from a failed call. A process killed
// mid-call is noticed by go-plugin a moment after the connection drops.
func callError(client *plugin.Client, what string, err error) error {
	for range 20 {
		if client.Exited() {
			return fmt.Errorf("%s: %w", what, ErrExited)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Configure creates or replaces an instance. A rejected config is returned
// as *sdk.ConfigError with the option's key.
func (p *Plugin) Configure(ctx context.Context, instance string, raw []byte) error {
	rpc, client := p.current()
	if client.Exited() {
		return fmt.Errorf("configure: %w", ErrExited)
	}
	resp, err := rpc.Configure(ctx, &pluginrpc.ConfigureRequest{Instance: instance, ConfigJson: raw})
	if err != nil {
		return callError(client, "configure", err)
	}
	if resp.Error != "" {
		return &sdk.ConfigError{Key: resp.ErrorKey, Err: errors.New(resp.Error)}
	}
	p.mu.Lock()
	p.configs[instance] = append([]byte(nil), raw...)
	p.mu.Unlock()
	return nil
}

// Run runs an instance once; ctx's deadline is the run's timeout and
// reaches the plugin. An error is either the check's own ("could not
// run") or, wrapping ErrExited, a dead process.
func (p *Plugin) Run(ctx context.Context, instance string) (*sdk.Result, error) {
	rpc, client := p.current()
	if client.Exited() {
		return nil, fmt.Errorf("run: %w", ErrExited)
	}
	req := &pluginrpc.RunRequest{Instance: instance}
	callCtx := ctx
	d, hasDeadline := ctx.Deadline()
	// past tells a timeout by the clock: ctx's own timer may not have
	// fired yet when the plugin's deadline error arrives.
	past := func() bool { return hasDeadline && !time.Now().Before(d) }
	if hasDeadline {
		// The plugin gets ctx's deadline; the call waits RunGrace longer for
		// the check's own timeout result. Cancelling ctx still cancels.
		req.TimeoutNanos = max(int64(time.Until(d)), 1)
		var cancel context.CancelFunc
		callCtx, cancel = context.WithDeadline(context.WithoutCancel(ctx), d.Add(RunGrace))
		defer cancel()
		stop := context.AfterFunc(ctx, func() {
			if errors.Is(ctx.Err(), context.Canceled) {
				cancel()
			}
		})
		defer stop()
	}
	resp, err := rpc.Run(callCtx, req)
	if err != nil {
		if callCtx.Err() != nil {
			return nil, fmt.Errorf("run: %w", callCtx.Err())
		}
		// The plugin side may hit the shared deadline a moment first.
		if status.Code(err) == codes.DeadlineExceeded || past() {
			return nil, fmt.Errorf("run: %w", context.DeadlineExceeded)
		}
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("run: %w", ctx.Err())
		}
		return nil, callError(client, "run", err)
	}
	if resp.Error != "" {
		// A check that honours ctx may answer just before the deadline
		// reaches this side: keep the error recognisable as a timeout.
		if past() {
			if resp.Error == context.DeadlineExceeded.Error() {
				return nil, fmt.Errorf("run: %w", context.DeadlineExceeded)
			}
			return nil, fmt.Errorf("run: %s: %w", resp.Error, context.DeadlineExceeded)
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("run: %s: %w", resp.Error, ctx.Err())
		}
		return nil, errors.New(resp.Error)
	}
	res, err := resultFromProto(resp.Result)
	if err != nil {
		return nil, fmt.Errorf("run: plugin sent a bad result: %w", err)
	}
	return res, nil
}

// Close forgets an instance in the plugin.
func (p *Plugin) Close(ctx context.Context, instance string) error {
	p.mu.Lock()
	delete(p.configs, instance)
	p.mu.Unlock()
	rpc, client := p.current()
	if client.Exited() {
		return nil
	}
	if _, err := rpc.Close(ctx, &pluginrpc.CloseRequest{Instance: instance}); err != nil {
		return callError(client, "close", err)
	}
	return nil
}

// Restart ends the process if it still runs, starts it again and
// configures every instance it held.
func (p *Plugin) Restart(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
	}
	if err := p.launch(ctx); err != nil {
		return err
	}
	for inst, raw := range p.configs {
		resp, err := p.rpc.Configure(ctx, &pluginrpc.ConfigureRequest{Instance: inst, ConfigJson: raw})
		if err != nil {
			return fmt.Errorf("configure %s after restart: %w", inst, err)
		}
		if resp.Error != "" {
			return fmt.Errorf("configure %s after restart: %s", inst, resp.Error)
		}
	}
	return nil
}

// Kill ends the plugin process (gracefully first, as go-plugin does).
func (p *Plugin) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
	}
}
