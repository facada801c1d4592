package main

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"

	"github.com/mailmon/mailmon/plugins/internal/mailaddr"
	"github.com/mailmon/mailmon/sdk"
)

// TLS modes.
const (
	tlsNone     = "none"
	tlsStartTLS = "starttls"
	tlsImplicit = "implicit"
)

// Defaults.
const (
	defaultHeloName      = "mailmon.invalid"
	defaultCertWarnDays  = 21
	defaultCertCritDays  = 7
	defaultPortPlain     = "25"
	defaultPortImplicit  = "465"
	authMechanismPlain   = "PLAIN"
	authMechanismLogin   = "LOGIN"
	authMechanismDefault = ""
)

// Config is one instance's options, as decoded from JSON; README.md
// documents each one.
type Config struct {
	Address               string       `json:"address"`
	TLS                   string       `json:"tls"`
	StartTLSRequired      *bool        `json:"starttls_required"`
	IPVersion             string       `json:"ip_version"`
	HeloName              string       `json:"helo_name"`
	ServerName            string       `json:"server_name"`
	TLSCAFile             string       `json:"tls_ca_file"`
	TLSInsecureSkipVerify bool         `json:"tls_insecure_skip_verify"`
	BannerRegexp          string       `json:"banner_regexp"`
	ExpectExtensions      []string     `json:"expect_extensions"`
	Username              string       `json:"username"`
	Password              string       `json:"password"`
	AuthMechanism         string       `json:"auth_mechanism"`
	AllowPlaintextAuth    bool         `json:"allow_plaintext_auth"`
	ResponseTimeWarning   sdk.Duration `json:"response_time_warning"`
	ResponseTimeCritical  sdk.Duration `json:"response_time_critical"`
	CertExpiryWarning     *int         `json:"cert_expiry_warning"`
	CertExpiryCritical    *int         `json:"cert_expiry_critical"`
}

// settings is a validated Config with defaults filled in: what Run uses.
type settings struct {
	Config
	address          string // host:port with the default port filled in
	host             string
	network          string // tcp, tcp4 or tcp6
	starttlsRequired bool
	roots            *x509.CertPool // nil: the system pool
	banner           *regexp.Regexp
	expect           []string // upper-case EHLO keywords
	certWarnDays     int
	certCritDays     int
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
		validateTLSMode, // first: the address's default port depends on it
		validateAddress,
		validateIPVersion,
		validateHelo,
		validateTLSOptions,
		validateBanner,
		validateExtensions,
		validateAuth,
		validateThresholds,
	} {
		if err := step(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validateTLSMode(s *settings) error {
	switch s.TLS {
	case "":
		s.TLS = tlsStartTLS
	case tlsNone, tlsStartTLS, tlsImplicit:
	default:
		return sdk.OptionError("tls", "must be one of none, starttls, implicit")
	}
	return nil
}

func validateAddress(s *settings) error {
	if s.Address == "" {
		return sdk.OptionError("address", "required")
	}
	port := defaultPortPlain
	if s.TLS == tlsImplicit {
		port = defaultPortImplicit
	}
	host, p, err := mailaddr.Split(s.Address, port)
	if err != nil {
		return &sdk.ConfigError{Key: "address", Err: err}
	}
	s.host = host
	s.address = net.JoinHostPort(host, p)
	return nil
}

func validateIPVersion(s *settings) error {
	ip := net.ParseIP(s.host)
	switch s.IPVersion {
	case "":
		s.network = "tcp"
		return nil
	case "4":
		s.network = "tcp4"
		if ip != nil && ip.To4() == nil {
			return sdk.OptionError("ip_version", "4 does not match the IPv6 address %s", s.host)
		}
	case "6":
		s.network = "tcp6"
		if ip != nil && ip.To4() != nil {
			return sdk.OptionError("ip_version", "6 does not match the IPv4 address %s", s.host)
		}
	default:
		return sdk.OptionError("ip_version", `must be "", "4" or "6" (got %q)`, s.IPVersion)
	}
	return nil
}

func validateHelo(s *settings) error {
	if s.HeloName == "" {
		s.HeloName = defaultHeloName
	}
	if !mailaddr.ValidHELO(s.HeloName) {
		return sdk.OptionError("helo_name", "invalid name %q: want a domain name or an address literal like [192.0.2.1]", s.HeloName)
	}
	return nil
}

func validateTLSOptions(s *settings) error {
	if s.StartTLSRequired != nil && *s.StartTLSRequired && s.TLS != tlsStartTLS {
		return sdk.OptionError("starttls_required", `needs tls = "starttls"`)
	}
	s.starttlsRequired = s.TLS == tlsStartTLS && (s.StartTLSRequired == nil || *s.StartTLSRequired)
	if s.TLS == tlsNone {
		// Catch a forgotten tls = "starttls" instead of ignoring these.
		switch {
		case s.ServerName != "":
			return sdk.OptionError("server_name", `needs tls = "starttls" or "implicit"`)
		case s.TLSCAFile != "":
			return sdk.OptionError("tls_ca_file", `needs tls = "starttls" or "implicit"`)
		case s.TLSInsecureSkipVerify:
			return sdk.OptionError("tls_insecure_skip_verify", `needs tls = "starttls" or "implicit"`)
		}
	}
	if s.ServerName == "" {
		s.ServerName = s.host
	}
	if s.TLSCAFile != "" {
		roots, err := loadCAFile(s.TLSCAFile)
		if err != nil {
			return &sdk.ConfigError{Key: "tls_ca_file", Err: err}
		}
		s.roots = roots
	}
	return nil
}

// loadCAFile reads a PEM bundle. Reading a local file is not network I/O,
// and a bad path is better reported when the config is loaded.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates in %s", path)
	}
	return pool, nil
}

func validateBanner(s *settings) error {
	if s.BannerRegexp == "" {
		return nil
	}
	re, err := regexp.Compile(s.BannerRegexp)
	if err != nil {
		return sdk.OptionError("banner_regexp", "invalid regexp: %w", err)
	}
	s.banner = re
	return nil
}

var keywordRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*$`)

func validateExtensions(s *settings) error {
	for _, kw := range s.ExpectExtensions {
		if !keywordRE.MatchString(kw) {
			return sdk.OptionError("expect_extensions", "invalid EHLO keyword %q", kw)
		}
		s.expect = append(s.expect, strings.ToUpper(kw))
	}
	return nil
}

func validateAuth(s *settings) error {
	s.AuthMechanism = strings.ToUpper(s.AuthMechanism)
	switch s.AuthMechanism {
	case authMechanismDefault, authMechanismPlain, authMechanismLogin:
	default:
		return sdk.OptionError("auth_mechanism", `must be one of "", PLAIN, LOGIN (got %q)`, s.AuthMechanism)
	}
	switch {
	case s.Username == "" && s.Password != "":
		return sdk.OptionError("username", "required when password is set")
	case s.Username != "" && s.Password == "":
		return sdk.OptionError("password", "required when username is set")
	case s.Username == "" && s.AuthMechanism != "":
		return sdk.OptionError("auth_mechanism", "needs username and password")
	case s.Username == "" && s.AllowPlaintextAuth:
		return sdk.OptionError("allow_plaintext_auth", "needs username and password")
	case s.Username != "" && s.TLS == tlsNone && !s.AllowPlaintextAuth:
		return sdk.OptionError("username", `AUTH over tls = "none" sends the password in clear: set allow_plaintext_auth = true to allow it`)
	}
	if strings.ContainsRune(s.Username, 0) {
		return sdk.OptionError("username", "must not contain NUL")
	}
	if strings.ContainsRune(s.Password, 0) {
		return sdk.OptionError("password", "must not contain NUL")
	}
	return nil
}

func validateThresholds(s *settings) error {
	warn, crit := s.ResponseTimeWarning.D(), s.ResponseTimeCritical.D()
	if warn > 0 && crit > 0 && crit < warn {
		return sdk.OptionError("response_time_critical", "must not be less than response_time_warning (%s)", warn)
	}
	w, c := s.CertExpiryWarning, s.CertExpiryCritical
	switch {
	case w != nil && *w < 0:
		return sdk.OptionError("cert_expiry_warning", "must not be negative")
	case c != nil && *c < 0:
		return sdk.OptionError("cert_expiry_critical", "must not be negative")
	case w != nil && c != nil && *c > *w:
		return sdk.OptionError("cert_expiry_critical", "must not be greater than cert_expiry_warning (%d)", *w)
	}
	// Setting one threshold past the other's default moves that default
	// along rather than failing on an option the user did not write.
	s.certWarnDays, s.certCritDays = defaultCertWarnDays, defaultCertCritDays
	if w != nil {
		s.certWarnDays = *w
		s.certCritDays = min(s.certCritDays, *w)
	}
	if c != nil {
		s.certCritDays = *c
		s.certWarnDays = max(s.certWarnDays, *c)
	}
	return nil
}
