// The gRPC application of the benchmarks: one unary method, /bench.Echo/Call, answering 1 KiB,
// served by @grpc/grpc-js over h2c on the port given.
//   node dist/bench/grpc-app.js PORT
import * as grpc from '@grpc/grpc-js';

const answer = Buffer.alloc(1024, 'x');
const identity = (b: Buffer) => b;
const server = new grpc.Server();
server.addService(
  {
    Call: {
      path: '/bench.Echo/Call',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { Call: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, answer) },
);
server.bindAsync(`127.0.0.1:${process.argv[2]}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
});
