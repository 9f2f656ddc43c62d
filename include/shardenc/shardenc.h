/* shardenc: one header for the whole library. */
#ifndef SHARDENC_H
#define SHARDENC_H
#include "shardenc/core.h"
#include "shardenc/io.h"
#include "shardenc/text.h"
#include "shardenc/kernels.h"
#include "shardenc/dist.h"
#include "shardenc/model.h"
#include "shardenc/job.h"
#endif
