/* placeholder */
#ifndef HERALD_writer_H
#define HERALD_writer_H
#endif
