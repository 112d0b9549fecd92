#ifndef GENBOT_VERSION_H
#define GENBOT_VERSION_H
#define GENBOT_VERSION "0.1.0"
#endif
