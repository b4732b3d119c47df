/*
 * Preloaded into OpenSMTPD 6.8 (Debian 12's package) by scripts/setup-interop, so that its
 * STARTTLS works with OpenSSL 3.
 *
 * Why: smtpd keeps the private key in its "ca" process. The network-facing process loads
 * only the certificate's public key and marks it (ex_data on the RSA / EC_KEY it gets from
 * EVP_PKEY_get1_RSA / EVP_PKEY_get1_EC_KEY) so that its RSA and EC methods send every
 * signature to the ca process. With OpenSSL 3 the EVP_PKEY read from the certificate is a
 * provider key: get1 returns a detached legacy copy, the mark lands on that copy, and the
 * handshake signs with a key that does not carry it, so nothing is sent to the ca process
 * and the signature is attempted locally without a private half ("missing private key",
 * then "EVP lib" / "internal error" in smtpd's log, alert 80 at the client), for RSA and
 * ECDSA alike. Upstream fixed the same thing in its bundled libtls (OpenSMTPD 7.x) by
 * putting the marked key back into the EVP_PKEY; this does that for 6.8: when get1 hands
 * out the legacy copy of a provider key, the EVP_PKEY is made to hold that very copy, so
 * the mark is seen by the signing code. Keys that are already legacy are left alone.
 */
#define _GNU_SOURCE
#define OPENSSL_SUPPRESS_DEPRECATED /* the RSA and EC_KEY calls smtpd itself uses */
#include <dlfcn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

RSA *
EVP_PKEY_get1_RSA(EVP_PKEY *pkey)
{
	static RSA *(*real)(EVP_PKEY *);
	RSA *rsa;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_PKEY_get1_RSA");
	if (real == NULL)
		return NULL;
	rsa = real(pkey);
	if (rsa != NULL && EVP_PKEY_get0_provider(pkey) != NULL)
		EVP_PKEY_set1_RSA(pkey, rsa);
	return rsa;
}

EC_KEY *
EVP_PKEY_get1_EC_KEY(EVP_PKEY *pkey)
{
	static EC_KEY *(*real)(EVP_PKEY *);
	EC_KEY *eckey;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "EVP_PKEY_get1_EC_KEY");
	if (real == NULL)
		return NULL;
	eckey = real(pkey);
	if (eckey != NULL && EVP_PKEY_get0_provider(pkey) != NULL)
		EVP_PKEY_set1_EC_KEY(pkey, eckey);
	return eckey;
}
