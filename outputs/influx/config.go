package influx

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

const (
	modeStdout = "stdout"
	modeUDP    = "udp"
	modeTCP    = "tcp"
	modeUnix   = "unix"
	modeHTTP   = "http"

	apiV1 = "v1"
	apiV2 = "v2"
)

// Defaults.
const (
	defaultTimeout  = 5 * time.Second
	defaultDatabase = "mailmon"
	defaultEncoding = "gzip"
	// defaultUDPPayload fits one IPv6 packet on any path (the 1280-byte
	// minimum MTU less 48 bytes of IPv6 and UDP headers), so datagrams are
	// never fragmented and a lost fragment never loses a whole datagram;
	// DNS settled on the same figure. Raise it on loopback.
	defaultUDPPayload = 1232
	minUDPPayload     = 256
	maxUDPPayload     = 65507 // largest UDP payload over IPv4
)

var modes = []string{modeStdout, modeUDP, modeTCP, modeUnix, modeHTTP}

// optionUse says which modes (or HTTP APIs) an option belongs to, so that
// a set option that the chosen mode ignores is reported, not silently lost.
type optionUse struct {
	key  string
	set  bool
	only []string
}

func (o *Influx) validate() error {
	if o.Mode == "" {
		o.Mode = modeStdout
	}
	if !slices.Contains(modes, o.Mode) {
		return sdk.OptionError("mode", "must be one of %s, got %q", strings.Join(modes, ", "), o.Mode)
	}
	if err := checkUnused("mode", o.Mode, o.modeOptions()); err != nil {
		return err
	}
	switch o.Mode {
	case modeUDP:
		if err := validateHostPort(o.Address, o.Mode); err != nil {
			return err
		}
		if o.UDPPayload != 0 && (o.UDPPayload < minUDPPayload || o.UDPPayload > maxUDPPayload) {
			return sdk.OptionError("udp_payload", "must be between %d and %d, got %d", minUDPPayload, maxUDPPayload, o.UDPPayload)
		}
	case modeTCP:
		return validateHostPort(o.Address, o.Mode)
	case modeUnix:
		return validateSocketPath(o.Address)
	case modeHTTP:
		return o.validateHTTP()
	}
	return nil
}

func (o *Influx) modeOptions() []optionUse {
	stream := []string{modeUDP, modeTCP, modeUnix}
	network := []string{modeUDP, modeTCP, modeUnix, modeHTTP}
	http := []string{modeHTTP}
	return []optionUse{
		{"timeout", o.Timeout != 0, network},
		{"address", o.Address != "", stream},
		{"udp_payload", o.UDPPayload != 0, []string{modeUDP}},
		{"url", o.URL != "", http},
		{"api", o.API != "", http},
		{"database", o.Database != "", http},
		{"retention_policy", o.RetentionPolicy != "", http},
		{"username", o.Username != "", http},
		{"password", o.Password != "", http},
		{"org", o.Org != "", http},
		{"bucket", o.Bucket != "", http},
		{"token", o.Token != "", http},
		{"content_encoding", o.ContentEncoding != "", http},
		{"headers", len(o.Headers) > 0, http},
		{"tls_ca_file", o.TLSCAFile != "", http},
		{"tls_insecure_skip_verify", o.TLSInsecureSkipVerify, http},
	}
}

func (o *Influx) apiOptions() []optionUse {
	v1 := []string{apiV1}
	v2 := []string{apiV2}
	return []optionUse{
		{"database", o.Database != "", v1},
		{"retention_policy", o.RetentionPolicy != "", v1},
		{"username", o.Username != "", v1},
		{"password", o.Password != "", v1},
		{"org", o.Org != "", v2},
		{"bucket", o.Bucket != "", v2},
		{"token", o.Token != "", v2},
	}
}

// checkUnused reports the first set option that value (of the option
// named by what: "mode" or "api") does not use.
func checkUnused(what, value string, uses []optionUse) error {
	for _, u := range uses {
		if u.set && !slices.Contains(u.only, value) {
			noun := what
			if len(u.only) > 1 {
				noun += "s"
			}
			return sdk.OptionError(u.key, "only used with %s %s", noun, quoteList(u.only))
		}
	}
	return nil
}

// quoteList renders ["a","b","c"] as `"a", "b" or "c"`.
func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = `"` + v + `"`
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func validateHostPort(addr, mode string) error {
	if addr == "" {
		return sdk.OptionError("address", "required for mode %q", mode)
	}
	if strings.Contains(addr, "://") {
		return sdk.OptionError("address", "want host:port without a scheme (mode sets the protocol), got %q", addr)
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return sdk.OptionError("address", "want host:port, got %q", addr)
	}
	return nil
}

func validateSocketPath(path string) error {
	if path == "" {
		return sdk.OptionError("address", "required for mode %q", modeUnix)
	}
	if strings.Contains(path, "://") {
		return sdk.OptionError("address", "want a socket path without a scheme, got %q", path)
	}
	return nil
}

func (o *Influx) validateHTTP() error {
	if o.API == "" {
		o.API = apiV1
	}
	if o.API != apiV1 && o.API != apiV2 {
		return sdk.OptionError("api", `must be "v1" or "v2", got %q`, o.API)
	}
	if err := checkUnused("api", o.API, o.apiOptions()); err != nil {
		return err
	}
	if err := o.validateURL(); err != nil {
		return err
	}
	if err := o.validateAuth(); err != nil {
		return err
	}
	switch o.ContentEncoding {
	case "", "gzip", "identity":
	default:
		return sdk.OptionError("content_encoding", `must be "gzip" or "identity", got %q`, o.ContentEncoding)
	}
	return httpx.ValidateHeaders(o.Headers, reservedHeader)
}

func (o *Influx) validateURL() error {
	if o.URL == "" {
		return sdk.OptionError("url", "required for mode %q", modeHTTP)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return sdk.OptionError("url", "%w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return sdk.OptionError("url", "want http://host:port or https://host:port, got %q", o.URL)
	case u.User != nil:
		return sdk.OptionError("url", "put credentials in username and password or token, not in the url")
	case u.RawQuery != "" || u.Fragment != "":
		return sdk.OptionError("url", "must not have a query or fragment (the output builds the query)")
	case strings.HasSuffix(u.Path, "/write"):
		return sdk.OptionError("url", "want the server's base URL; the output appends /write or /api/v2/write")
	}
	if u.Scheme == "http" {
		if o.TLSCAFile != "" {
			return sdk.OptionError("tls_ca_file", "only used with an https url")
		}
		if o.TLSInsecureSkipVerify {
			return sdk.OptionError("tls_insecure_skip_verify", "only used with an https url")
		}
	}
	return nil
}

func (o *Influx) validateAuth() error {
	if o.API == apiV1 {
		if o.Password != "" && o.Username == "" {
			return sdk.OptionError("username", "required when password is set")
		}
		return nil
	}
	for _, req := range []struct{ key, value string }{
		{"org", o.Org}, {"bucket", o.Bucket}, {"token", o.Token},
	} {
		if req.value == "" {
			return sdk.OptionError(req.key, "required for api %q", apiV2)
		}
	}
	return nil
}

// reservedHeader says which headers the output must control.
func reservedHeader(lower string) string {
	switch lower {
	case "content-encoding":
		return "is set by content_encoding"
	case "content-length":
		return "is set by the output"
	}
	return ""
}

func (o *Influx) setDefaults() {
	if o.Timeout == 0 {
		o.Timeout = sdk.Duration(defaultTimeout)
	}
	if o.UintSupport == nil {
		on := true
		o.UintSupport = &on
	}
	switch o.Mode {
	case modeUDP:
		if o.UDPPayload == 0 {
			o.UDPPayload = defaultUDPPayload
		}
	case modeHTTP:
		if o.ContentEncoding == "" {
			o.ContentEncoding = defaultEncoding
		}
		if o.API == apiV1 && o.Database == "" {
			o.Database = defaultDatabase
		}
	}
}
