package pluginrpc

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolMajor is the go-plugin protocol version. Bump it only for changes
// an older agent or plugin cannot understand; additions bump ProtocolMinor.
const ProtocolMajor = 1

// ProtocolMinor is reported by a plugin in Info so the agent can tell which
// optional fields it may rely on.
const ProtocolMinor = 0

// PluginName is the key under which the check is dispensed.
const PluginName = "check"

// Handshake is fixed forever: a changed cookie would make every plugin
// ever built refuse to start.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolMajor,
	MagicCookieKey:   "MAILMON_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "5f1f4c8e0b0a4a0e9d6c3c2d4b6a8e1f-mailmon-check",
}

// Plugin is the go-plugin glue for the Check service. Impl is set on the
// plugin side only.
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl CheckServer
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the check implementation.
func (p *Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	RegisterCheckServer(s, p.Impl)
	return nil
}

// GRPCClient returns a CheckClient over the plugin connection.
func (p *Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewCheckClient(c), nil
}

// PluginSet is what both sides pass to go-plugin.
func PluginSet(server CheckServer) plugin.PluginSet {
	return plugin.PluginSet{PluginName: &Plugin{Impl: server}}
}
