/* placeholder */
#ifndef HERALD_signature_H
#define HERALD_signature_H
#endif
