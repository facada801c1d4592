package sdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/mailmon/mailmon/sdk/internal/pluginrpc"
)

// ServeOpts configures Serve.
type ServeOpts struct {
	// New returns a fresh, unconfigured check. It is called once per
	// configured instance and once for Info.
	New func() Check
}

// Serve runs the plugin process: it speaks the mailmon plugin protocol on
// behalf of opts.New's checks and returns only when the agent ends the
// plugin. Run directly (not by the agent), it prints a short notice and
// exits with status 1.
func Serve(opts *ServeOpts) {
	if opts == nil || opts.New == nil {
		fmt.Fprintln(os.Stderr, "sdk.Serve: ServeOpts.New is nil")
		os.Exit(1)
	}
	if os.Getenv(pluginrpc.Handshake.MagicCookieKey) != pluginrpc.Handshake.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "%s is a mailmon check plugin: it is started by the mailmon agent.\n"+
			"Try `mailmon test --check NAME` with a config that enables it.\n", os.Args[0])
		os.Exit(1)
	}
	go exitWithParent(os.Getppid())
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: pluginrpc.Handshake,
		Plugins:         pluginrpc.PluginSet(newServer(opts.New)),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Level:      hclog.Warn,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	})
}

// exitWithParent ends the plugin when the agent that started it is gone
// (killed with SIGKILL, crashed): an orphaned plugin would run forever.
func exitWithParent(ppid int) {
	for range time.Tick(time.Second) {
		if os.Getppid() != ppid {
			fmt.Fprintln(os.Stderr, "mailmon plugin: the agent that started this plugin is gone; exiting")
			os.Exit(0)
		}
	}
}

// server holds the configured instances of one plugin process.
type server struct {
	pluginrpc.UnimplementedCheckServer
	newCheck func() Check

	mu        sync.Mutex
	instances map[string]Check
}

func newServer(newCheck func() Check) pluginrpc.CheckServer {
	return &server{newCheck: newCheck, instances: map[string]Check{}}
}

func (s *server) Info(context.Context, *pluginrpc.InfoRequest) (*pluginrpc.InfoResponse, error) {
	info := s.newCheck().Info()
	return &pluginrpc.InfoResponse{
		Name:          info.Name,
		Version:       info.Version,
		Description:   info.Description,
		SampleConfig:  info.SampleConfig,
		ProtocolMinor: pluginrpc.ProtocolMinor,
	}, nil
}

func (s *server) Configure(_ context.Context, req *pluginrpc.ConfigureRequest) (*pluginrpc.ConfigureResponse, error) {
	c := s.newCheck()
	if err := safeConfigure(c, req.ConfigJson); err != nil {
		resp := &pluginrpc.ConfigureResponse{Error: err.Error()}
		var cerr *ConfigError
		if errors.As(err, &cerr) {
			resp.ErrorKey = cerr.Key
			resp.Error = cerr.Err.Error()
		}
		return resp, nil
	}
	s.mu.Lock()
	old := s.instances[req.Instance]
	s.instances[req.Instance] = c
	s.mu.Unlock()
	closeCheck(old)
	return &pluginrpc.ConfigureResponse{}, nil
}

func (s *server) Run(ctx context.Context, req *pluginrpc.RunRequest) (*pluginrpc.RunResponse, error) {
	s.mu.Lock()
	c := s.instances[req.Instance]
	s.mu.Unlock()
	if c == nil {
		return &pluginrpc.RunResponse{Error: fmt.Sprintf("instance %q is not configured", req.Instance)}, nil
	}
	if req.TimeoutNanos > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutNanos))
		defer cancel()
	}
	start := time.Now()
	res, err := safeRun(ctx, c)
	if err != nil {
		return &pluginrpc.RunResponse{Error: err.Error()}, nil
	}
	if res == nil {
		return &pluginrpc.RunResponse{Error: "check returned neither a result nor an error"}, nil
	}
	pb, err := resultToProto(res, start)
	if err != nil {
		return &pluginrpc.RunResponse{Error: err.Error()}, nil
	}
	return &pluginrpc.RunResponse{Result: pb}, nil
}

func (s *server) Close(_ context.Context, req *pluginrpc.CloseRequest) (*pluginrpc.CloseResponse, error) {
	s.mu.Lock()
	c := s.instances[req.Instance]
	delete(s.instances, req.Instance)
	s.mu.Unlock()
	closeCheck(c)
	return &pluginrpc.CloseResponse{}, nil
}

func closeCheck(c Check) {
	if cl, ok := c.(Closer); ok {
		_ = cl.Close()
	}
}

// A panicking check must not take its sibling instances down with it.
func safeConfigure(c Check, raw []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("configure panicked: %v", r)
		}
	}()
	return c.Configure(raw)
}

func safeRun(ctx context.Context, c Check) (res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("run panicked: %v", r)
		}
	}()
	return c.Run(ctx)
}

// Validate reports what would stop r from crossing the plugin protocol:
// an invalid status, an unnamed metric, a field of an unsupported type.
func (r *Result) Validate() error {
	_, err := resultToProto(r, time.Time{})
	return err
}

// resultToProto converts a result for the wire, stamping metrics without a
// time with defaultTime. Unsupported field types are an error naming the
// metric and field.
func resultToProto(r *Result, defaultTime time.Time) (*pluginrpc.Result, error) {
	if !r.Status.Valid() {
		return nil, fmt.Errorf("invalid status %d", int(r.Status))
	}
	out := &pluginrpc.Result{Status: int32(r.Status), Reason: r.Reason, Message: r.Message}
	for _, m := range r.Metrics {
		if m.Name == "" {
			return nil, errors.New("metric without a name")
		}
		pm := &pluginrpc.Metric{Name: m.Name, Tags: m.Tags, Fields: make(map[string]*pluginrpc.Value, len(m.Fields))}
		t := m.Time
		if t.IsZero() {
			t = defaultTime
		}
		pm.TimeUnixNano = t.UnixNano()
		if _, ok := m.Tags[""]; ok {
			return nil, fmt.Errorf("metric %s: tag without a name", m.Name)
		}
		for k, v := range m.Fields {
			if k == "" {
				return nil, fmt.Errorf("metric %s: field without a name", m.Name)
			}
			pv, err := valueToProto(v)
			if err != nil {
				return nil, fmt.Errorf("metric %s field %s: %w", m.Name, k, err)
			}
			pm.Fields[k] = pv
		}
		out.Metrics = append(out.Metrics, pm)
	}
	return out, nil
}

func valueToProto(v any) (*pluginrpc.Value, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("value %v is not a finite number", x)
		}
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Double{Double: x}}, nil
	case float32:
		return valueToProto(float64(x))
	case int:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Int{Int: int64(x)}}, nil
	case int8:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Int{Int: int64(x)}}, nil
	case int16:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Int{Int: int64(x)}}, nil
	case int32:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Int{Int: int64(x)}}, nil
	case int64:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Int{Int: x}}, nil
	case uint:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Uint{Uint: uint64(x)}}, nil
	case uint8:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Uint{Uint: uint64(x)}}, nil
	case uint16:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Uint{Uint: uint64(x)}}, nil
	case uint32:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Uint{Uint: uint64(x)}}, nil
	case uint64:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Uint{Uint: x}}, nil
	case string:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_String_{String_: x}}, nil
	case bool:
		return &pluginrpc.Value{Kind: &pluginrpc.Value_Bool{Bool: x}}, nil
	case time.Duration:
		return nil, errors.New("time.Duration is ambiguous: use Seconds() in a *_seconds field")
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}
