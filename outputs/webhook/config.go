package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"os"
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
	if err := httpx.ValidateHeaders(w.Headers, reservedHeader); err != nil {
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

// reservedHeader says which headers the output sets itself.
func reservedHeader(lower string) string {
	if lower == "content-type" || lower == "content-length" || strings.HasPrefix(lower, "x-mailmon-") {
		return "is set by the output"
	}
	return ""
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
