/* placeholder */
#ifndef HERALD_sinkaddr_H
#define HERALD_sinkaddr_H
#endif
