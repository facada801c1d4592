package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/mailmon/mailmon/plugins/internal/mailaddr"
	"github.com/mailmon/mailmon/sdk"
)

// TLS modes.
const (
	tlsNone     = "none"
	tlsStartTLS = "starttls"
	tlsImplicit = "implicit"
)

// Receive protocols and detection modes.
const (
	protoIMAP = "imap"
	protoPOP3 = "pop3"

	detectAuto = "auto" // fast poll right after the send, then IDLE
	detectIdle = "idle" // IDLE only (polls at poll_interval without IDLE)
	detectPoll = "poll" // UID SEARCH / POP3 every poll_interval
)

// SASL mechanisms.
const (
	mechPlain       = "PLAIN"
	mechLogin       = "LOGIN"
	mechXOAuth2     = "XOAUTH2"
	mechOAuthBearer = "OAUTHBEARER"
)

// Defaults.
const (
	defaultHeloName       = "mailmon.invalid"
	defaultSubject        = "mailmon roundtrip"
	defaultMailbox        = "INBOX"
	defaultPollInterval   = time.Second
	defaultFastPollWindow = 3 * time.Second
	defaultSweepAge       = 24 * time.Hour
)

// AuthConfig is one side's credentials.
type AuthConfig struct {
	Username          string `json:"username"`
	Password          string `json:"password"`
	Mechanism         string `json:"auth_mechanism"`
	OAuthTokenFile    string `json:"oauth_token_file"`
	OAuthTokenCommand string `json:"oauth_token_command"`
}

// TLSConfig is one side's TLS options.
type TLSConfig struct {
	TLS                   string `json:"tls"`
	ServerName            string `json:"server_name"`
	TLSCAFile             string `json:"tls_ca_file"`
	TLSInsecureSkipVerify bool   `json:"tls_insecure_skip_verify"`
	AllowPlaintextAuth    bool   `json:"allow_plaintext_auth"`
}

// SendConfig is the [send] table: how the probe is submitted.
type SendConfig struct {
	Address string `json:"address"`
	TLSConfig
	AuthConfig
	HeloName string `json:"helo_name"`
	MailFrom string `json:"mail_from"`
	RcptTo   string `json:"rcpt_to"`
}

// ReceiveConfig is the [receive] table: where the probe is looked for.
type ReceiveConfig struct {
	Protocol string `json:"protocol"`
	Address  string `json:"address"`
	TLSConfig
	AuthConfig
	Mailbox        string       `json:"mailbox"`
	JunkMailboxes  []string     `json:"junk_mailboxes"`
	Detection      string       `json:"detection"`
	PollInterval   sdk.Duration `json:"poll_interval"`
	FastPollWindow sdk.Duration `json:"fast_poll_window"`
	CleanupMailbox string       `json:"cleanup_mailbox"`
	SweepAge       sdk.Duration `json:"sweep_age"`
}

// Config is one instance's options, as decoded from JSON.
type Config struct {
	Send             SendConfig    `json:"send"`
	Receive          ReceiveConfig `json:"receive"`
	InstanceID       string        `json:"instance_id"`
	Subject          string        `json:"subject"`
	DeliveryTimeout  sdk.Duration  `json:"delivery_timeout"`
	DeliveryWarning  sdk.Duration  `json:"delivery_warning"`
	DeliveryCritical sdk.Duration  `json:"delivery_critical"`
}

// endpoint is one validated server connection setting.
type endpoint struct {
	address    string // host:port
	tls        string
	serverName string
	roots      *x509.CertPool
	insecure   bool
	plainAuth  bool // allow_plaintext_auth
	auth       AuthConfig
}

// settings is a validated Config with defaults filled in: what Run uses.
type settings struct {
	Config
	MailFrom, RcptTo, Subject string
	instance                  string
	send, recv                endpoint
}

// parseConfig decodes raw strictly and validates it. Every error is an
// *sdk.ConfigError naming the option.
func parseConfig(raw []byte) (*settings, error) {
	var c Config
	if err := sdk.DecodeConfig(raw, &c); err != nil {
		return nil, err
	}
	s := &settings{Config: c}
	for _, step := range []func(*settings) error{
		validateSend,
		validateReceive,
		validateMessage,
		validateThresholds,
	} {
		if err := step(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validateSend(s *settings) error {
	c := &s.Config.Send
	defPort := map[string]string{tlsNone: "25", tlsStartTLS: "25", tlsImplicit: "465"}
	ep, err := validateEndpoint("send", c.Address, c.TLSConfig, c.AuthConfig, defPort, false)
	if err != nil {
		return err
	}
	s.send = ep
	if c.HeloName == "" {
		c.HeloName = defaultHeloName
	}
	if !mailaddr.ValidHELO(c.HeloName) {
		return sdk.OptionError("send.helo_name", "invalid name %q: want a domain name or an address literal like [192.0.2.1]", c.HeloName)
	}
	if c.MailFrom == "" {
		return sdk.OptionError("send.mail_from", "required")
	}
	if c.RcptTo == "" {
		return sdk.OptionError("send.rcpt_to", "required")
	}
	for _, kv := range [][2]string{{"send.mail_from", c.MailFrom}, {"send.rcpt_to", c.RcptTo}} {
		key, v := kv[0], kv[1]
		if a, err := mail.ParseAddress(v); err != nil || a.Address != v || a.Name != "" {
			return sdk.OptionError(key, "invalid address %q: want a bare address like monitor@example.com", v)
		}
	}
	s.MailFrom, s.RcptTo = c.MailFrom, c.RcptTo
	return nil
}

func validateReceive(s *settings) error {
	c := &s.Config.Receive
	switch c.Protocol {
	case "":
		c.Protocol = protoIMAP
	case protoIMAP, protoPOP3:
	default:
		return sdk.OptionError("receive.protocol", `must be "imap" or "pop3" (got %q)`, c.Protocol)
	}
	defPort := map[string]string{tlsNone: "143", tlsStartTLS: "143", tlsImplicit: "993"}
	if c.Protocol == protoPOP3 {
		defPort = map[string]string{tlsNone: "110", tlsStartTLS: "110", tlsImplicit: "995"}
	}
	ep, err := validateEndpoint("receive", c.Address, c.TLSConfig, c.AuthConfig, defPort, true)
	if err != nil {
		return err
	}
	s.recv = ep
	if c.Mailbox == "" {
		c.Mailbox = defaultMailbox
	}
	pop := c.Protocol == protoPOP3
	switch {
	case pop && c.Mailbox != defaultMailbox:
		return sdk.OptionError("receive.mailbox", `needs protocol = "imap" (POP3 has only the inbox)`)
	case pop && len(c.JunkMailboxes) > 0:
		return sdk.OptionError("receive.junk_mailboxes", `needs protocol = "imap"`)
	case pop && c.CleanupMailbox != "":
		return sdk.OptionError("receive.cleanup_mailbox", `needs protocol = "imap"`)
	}
	for _, m := range append(append([]string{c.Mailbox}, c.JunkMailboxes...), c.CleanupMailbox) {
		if strings.ContainsAny(m, "\r\n\x00") {
			return sdk.OptionError("receive.mailbox", "invalid mailbox name %q", m)
		}
	}
	for i, m := range c.JunkMailboxes {
		if m == "" || m == c.Mailbox {
			return sdk.OptionError(fmt.Sprintf("receive.junk_mailboxes[%d]", i), "must be a mailbox other than %q", c.Mailbox)
		}
	}
	if c.CleanupMailbox == c.Mailbox && c.CleanupMailbox != "" {
		return sdk.OptionError("receive.cleanup_mailbox", "must differ from mailbox")
	}
	switch c.Detection {
	case "":
		c.Detection = detectAuto
	case detectAuto, detectIdle, detectPoll:
	default:
		return sdk.OptionError("receive.detection", `must be one of auto, idle, poll (got %q)`, c.Detection)
	}
	if pop && c.Detection == detectIdle {
		return sdk.OptionError("receive.detection", `"idle" needs protocol = "imap"`)
	}
	if c.PollInterval == 0 {
		c.PollInterval = sdk.Duration(defaultPollInterval)
	}
	if c.PollInterval.D() < 10*time.Millisecond {
		return sdk.OptionError("receive.poll_interval", "must be at least 10ms")
	}
	if c.FastPollWindow == 0 {
		c.FastPollWindow = sdk.Duration(defaultFastPollWindow)
	}
	if c.SweepAge == 0 {
		c.SweepAge = sdk.Duration(defaultSweepAge)
	}
	return nil
}

// validateEndpoint checks one side's address, TLS and credentials.
// Passwords are required on the receive side (it must log in).
func validateEndpoint(side, addr string, t TLSConfig, a AuthConfig, defPort map[string]string, needAuth bool) (endpoint, error) {
	key := func(k string) string { return side + "." + k }
	var ep endpoint
	switch t.TLS {
	case "":
		t.TLS = tlsStartTLS
	case tlsNone, tlsStartTLS, tlsImplicit:
	default:
		return ep, sdk.OptionError(key("tls"), "must be one of none, starttls, implicit")
	}
	if addr == "" {
		return ep, sdk.OptionError(key("address"), "required")
	}
	host, port, err := mailaddr.Split(addr, defPort[t.TLS])
	if err != nil {
		return ep, &sdk.ConfigError{Key: key("address"), Err: err}
	}
	ep = endpoint{address: net.JoinHostPort(host, port), tls: t.TLS, serverName: t.ServerName, insecure: t.TLSInsecureSkipVerify, plainAuth: t.AllowPlaintextAuth}
	if t.TLS == tlsNone {
		switch {
		case t.ServerName != "":
			return ep, sdk.OptionError(key("server_name"), `needs tls = "starttls" or "implicit"`)
		case t.TLSCAFile != "":
			return ep, sdk.OptionError(key("tls_ca_file"), `needs tls = "starttls" or "implicit"`)
		case t.TLSInsecureSkipVerify:
			return ep, sdk.OptionError(key("tls_insecure_skip_verify"), `needs tls = "starttls" or "implicit"`)
		}
	}
	if ep.serverName == "" {
		ep.serverName = host
	}
	if t.TLSCAFile != "" {
		pem, err := os.ReadFile(t.TLSCAFile)
		if err != nil {
			return ep, &sdk.ConfigError{Key: key("tls_ca_file"), Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return ep, sdk.OptionError(key("tls_ca_file"), "no PEM certificates in %s", t.TLSCAFile)
		}
		ep.roots = pool
	}
	a.Mechanism = strings.ToUpper(a.Mechanism)
	oauth := a.OAuthTokenFile != "" || a.OAuthTokenCommand != ""
	switch a.Mechanism {
	case "":
		if oauth {
			a.Mechanism = mechXOAuth2
		}
	case mechPlain, mechLogin:
		if oauth {
			return ep, sdk.OptionError(key("auth_mechanism"), "%s uses password, not an OAuth2 token", a.Mechanism)
		}
	case mechXOAuth2, mechOAuthBearer:
		if !oauth {
			return ep, sdk.OptionError(key("auth_mechanism"), "%s needs oauth_token_file or oauth_token_command", a.Mechanism)
		}
	default:
		return ep, sdk.OptionError(key("auth_mechanism"), `must be one of "", PLAIN, LOGIN, XOAUTH2, OAUTHBEARER (got %q)`, a.Mechanism)
	}
	switch {
	case a.OAuthTokenFile != "" && a.OAuthTokenCommand != "":
		return ep, sdk.OptionError(key("oauth_token_command"), "set oauth_token_file or oauth_token_command, not both")
	case oauth && a.Password != "":
		return ep, sdk.OptionError(key("password"), "set password or an OAuth2 token, not both")
	case oauth && a.Username == "":
		return ep, sdk.OptionError(key("username"), "required with an OAuth2 token")
	case !oauth && a.Username == "" && a.Password != "":
		return ep, sdk.OptionError(key("username"), "required when password is set")
	case !oauth && a.Username != "" && a.Password == "":
		return ep, sdk.OptionError(key("password"), "required when username is set")
	case needAuth && a.Username == "":
		return ep, sdk.OptionError(key("username"), "required")
	case !needAuth && a.Username == "" && a.Mechanism != "":
		return ep, sdk.OptionError(key("auth_mechanism"), "needs username and password")
	case a.Username != "" && t.TLS == tlsNone && !t.AllowPlaintextAuth:
		return ep, sdk.OptionError(key("username"), `authentication over tls = "none" sends the credentials in clear: set allow_plaintext_auth = true to allow it`)
	}
	for _, kv := range [][2]string{{"username", a.Username}, {"password", a.Password}} {
		k, v := kv[0], kv[1]
		if strings.ContainsAny(v, "\x00\r\n") {
			return ep, sdk.OptionError(key(k), "must not contain NUL, CR or LF")
		}
	}
	ep.auth = a
	return ep, nil
}

func validateMessage(s *settings) error {
	s.Subject = s.Config.Subject
	if s.Subject == "" {
		s.Subject = defaultSubject
	}
	if strings.ContainsAny(s.Subject, "\r\n") || len(s.Subject) > 200 {
		return sdk.OptionError("subject", "must be one line of at most 200 characters")
	}
	s.instance = s.InstanceID
	if s.instance == "" {
		host, _ := os.Hostname()
		s.instance = defaultInstanceID(s.MailFrom, s.RcptTo, s.recv.address, s.recv.auth.Username, s.Receive.Mailbox, host)
	} else if !instanceIDRE.MatchString(s.instance) {
		return sdk.OptionError("instance_id", "must be 1 to 64 letters, digits, '-' or '_' (got %q)", s.instance)
	}
	return nil
}

func validateThresholds(s *settings) error {
	warn, crit := s.DeliveryWarning.D(), s.DeliveryCritical.D()
	if warn > 0 && crit > 0 && crit < warn {
		return sdk.OptionError("delivery_critical", "must not be less than delivery_warning (%s)", warn)
	}
	return nil
}
