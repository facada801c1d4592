package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"time"
)

// tlsInfo is what the handshake and our own verification found.
type tlsInfo struct {
	Version    string // "TLS1.3"
	Cipher     string
	Leaf       *x509.Certificate
	ChainErr   error // nil: the chain verifies for the server name now
	TrustErr   error // ChainErr, less an expiry that cert_expired reports
	ExpiryDays float64
}

// clientHandshake runs a TLS client handshake on c. Verification is
// switched off in crypto/tls and done by verifyChain afterwards, so that
// an untrusted certificate is a measured result, not a failed handshake.
func clientHandshake(ctx context.Context, c net.Conn, s *settings) (*tls.Conn, error) {
	tc := tls.Client(c, &tls.Config{
		ServerName:         s.ServerName,
		InsecureSkipVerify: true, //nolint:gosec // verified by verifyChain
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// inspect describes the negotiated session and verifies the peer's chain
// against roots (nil: the system pool) for serverName at now.
func inspect(st tls.ConnectionState, roots *x509.CertPool, serverName string, now time.Time) *tlsInfo {
	info := &tlsInfo{
		Version: strings.ReplaceAll(tls.VersionName(st.Version), " ", ""),
		Cipher:  tls.CipherSuiteName(st.CipherSuite),
	}
	if len(st.PeerCertificates) == 0 {
		info.ChainErr = errNoCertificate
		return info
	}
	info.Leaf = st.PeerCertificates[0]
	info.ExpiryDays = info.Leaf.NotAfter.Sub(now).Hours() / 24
	info.ChainErr = verifyChain(st.PeerCertificates, roots, serverName, now)
	info.TrustErr = info.ChainErr
	var invalid x509.CertificateInvalidError
	if errors.As(info.ChainErr, &invalid) && invalid.Reason == x509.Expired && now.After(info.Leaf.NotAfter) {
		// Verify stops at the expiry; look again as of the last valid
		// moment to find an untrusted issuer or a wrong name as well.
		info.TrustErr = verifyChain(st.PeerCertificates, roots, serverName, info.Leaf.NotAfter)
	}
	return info
}

func verifyChain(certs []*x509.Certificate, roots *x509.CertPool, serverName string, now time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       serverName,
		CurrentTime:   now,
	})
	return err
}

// subject names the certificate: its CN, else its first DNS name.
func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return ""
}

var errNoCertificate = errors.New("server sent no certificate")
