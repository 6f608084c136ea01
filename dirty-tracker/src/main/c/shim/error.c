/* Error reporting: every failure becomes one sentence the Java side turns into an exception. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int vfail(char *err, size_t errlen, int errnum, const char *fmt, va_list ap)
{
    if (err == NULL || errlen == 0) {
        return -1;
    }
    int n = vsnprintf(err, errlen, fmt, ap);
    if (errnum != 0 && n >= 0 && (size_t)n < errlen) {
        snprintf(err + n, errlen - (size_t)n, ": %s", strerror(errnum));
    }
    return -1;
}

int cps_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, 0, fmt, ap);
    va_end(ap);
    return -1;
}

int cps_fail_errno(char *err, size_t errlen, const char *fmt, ...)
{
    int errnum = errno; /* before vsnprintf can touch it */
    va_list ap;
    va_start(ap, fmt);
    vfail(err, errlen, errnum, fmt, ap);
    va_end(ap);
    return -1;
}
