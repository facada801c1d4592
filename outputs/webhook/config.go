package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mailmon/mailmon/outputs/internal/httpx"
	"github.com/mailmon/mailmon/sdk"
)

const defaultTimeout = 10 * time.Second

func (w *Webhook) validate() error {
	if w.URL == "" {
		return sdk.OptionError("url", "required")
	}
	u, err := httpx.CheckURL("url", w.URL)
	if err != nil {
		return err
	}
	if u.Fragment != "" {
		return sdk.OptionError("url", "must not have a fragment")
	}
	if err := validateHeaders(w.Headers); err != nil {
		return err
	}
	if w.Secret != "" && strings.TrimSpace(w.Secret) != w.Secret {
		return sdk.OptionError("secret", "has leading or trailing white space")
	}
	if u.Scheme == "http" {
		if w.TLSCAFile != "" {
			return sdk.OptionError("tls_ca_file", "only used with an https url")
		}
		if w.TLSInsecureSkipVerify {
			return sdk.OptionError("tls_insecure_skip_verify", "only used with an https url")
		}
	}
	return nil
}

// validateHeaders rejects headers that net/http would refuse on every
// request (an error the agent would retry forever) and the ones the
// output sets itself.
func validateHeaders(h map[string]string) error {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case !httpx.IsToken(k):
			return sdk.OptionError("headers", "invalid header name %q", k)
		case strings.ContainsAny(h[k], "\r\n\x00"):
			return sdk.OptionError("headers", "header %q: value contains a line break or NUL", k)
		}
		lower := strings.ToLower(k)
		if lower == "content-type" || lower == "content-length" || strings.HasPrefix(lower, "x-mailmon-") {
			return sdk.OptionError("headers", "%q is set by the output", k)
		}
	}
	return nil
}

func (w *Webhook) tlsConfig() (*tls.Config, error) {
	if w.TLSCAFile == "" && !w.TLSInsecureSkipVerify {
		return nil, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: w.TLSInsecureSkipVerify} //nolint:gosec // the user asked for it
	if w.TLSCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(w.TLSCAFile)
	if err != nil {
		return nil, sdk.OptionError("tls_ca_file", "%w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, sdk.OptionError("tls_ca_file", "no PEM certificate in %s", w.TLSCAFile)
	}
	return cfg, nil
}
