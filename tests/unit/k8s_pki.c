/* A test PKI (k8s_pki.h). */
#include <config.h>

#include "base/util.h"
#include "k8s_pki.h"

#include <stdlib.h>
#include <unistd.h>

int
k8s_pki_make(const char *dir)
{
	kcr_autofree char *cmd = NULL;

	if (access("/usr/bin/openssl", X_OK) != 0)
		return -1;
	cmd = kcr_strdup_printf(
		"set -e; cd '%s'; exec >pki.log 2>&1\n"
		"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kcr-test-ca "
		"-keyout ca.key -out ca.crt\n"
		"openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
		"-out server.csr\n"
		"printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext\n"
		"openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
		"-extfile server.ext -out server.crt\n"
		"openssl req -newkey rsa:2048 -nodes -subj '/CN=kcr-test-client/O=system:masters' "
		"-keyout client.key -out client.csr\n"
		"openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 "
		"-out client.crt\n",
		dir);
	return system(cmd) == 0 ? 0 : -1;
}
