/* placeholder */
#ifndef HERALD_auth_H
#define HERALD_auth_H
#endif
