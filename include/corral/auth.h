/* corral — users, roles and tokens. Tokens are stored only as salted
   SHA-256 hashes and compared in constant time. The users file has one user
   a line: "name role salt-hex hash-hex"; '#' starts a comment. */
#ifndef CORRAL_AUTH_H
#define CORRAL_AUTH_H

#include <stddef.h>
#include "corral/config.h"

typedef struct corral_users corral_users_t;

typedef struct corral_user {
    char name[CORRAL_ADDR_MAX];
    int role;                       /* CORRAL_ROLE_* */
} corral_user_t;

/* Load the users file (or, when path is "", the default admin of API.md §6:
   STATE/admin.token, created with a new token, mode 0600, if missing).
   NULL with a sentence in err (which file, which line, which errno). */
corral_users_t *corral_users_load(const char *path, const char *state_dir,
                                  char *err, size_t errlen);

/* Free. Sets *self to NULL. */
void corral_users_destroy(corral_users_t **self);

/* Check an Authorization header value (Basic or Bearer). Returns the user,
   or NULL when missing, malformed or wrong. */
const corral_user_t *corral_users_check(corral_users_t *self, const char *authz, size_t len);

/* Add a user valid until removed, in memory only (analysis tokens). The
   token is stored hashed. 0 or -1 (name taken, out of memory). */
int corral_users_add_ephemeral(corral_users_t *self, const char *name, int role,
                               const char *token);

/* Remove a user added with corral_users_add_ephemeral. */
void corral_users_remove(corral_users_t *self, const char *name);

/* Append a user to the users file at path with a fresh random token, written
   hex into token (cap >= 65). 0, or -1 with a sentence in err. */
int corral_users_file_add(const char *path, const char *name, const char *role,
                          char *token, size_t cap, char *err, size_t errlen);

/* Fill buf (cap >= 65) with a new random token, 64 hex characters. 0 or -1. */
int corral_token_new(char *buf, size_t cap);

#endif
