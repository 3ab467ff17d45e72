--  ctest Ada.Q3P5Contracts: a normal Quantize / Dequantize / Matvec round works
--  (Matvec within the derived bound of dequantize-then-dot, as in
--  bindings/fortran/q3p5_test.f90), Dot_I32 reaches its bound at K_Max exactly
--  without overflow, and broken preconditions (a short X, K_Max + 1 products)
--  raise Ada.Assertions.Assertion_Error (GNAT: System.Assertions.Assert_Failure)
--  before the C library is called.
with Ada.Assertions;
with Ada.Numerics.Elementary_Functions; use Ada.Numerics.Elementary_Functions;
with Ada.Text_IO;                       use Ada.Text_IO;
with Ada.Command_Line;
with Interfaces;                        use Interfaces;
with Interfaces.C;                      use Interfaces.C;
with Septet_Q3P5;                       use Septet_Q3P5;

procedure Septet_Ada_Test is
   Failures : Natural := 0;

   procedure Expect (Cond : Boolean; What : String) is
   begin
      if not Cond then
         Put_Line ("FAILED: " & What);
         Failures := Failures + 1;
      end if;
   end Expect;

   Rows : constant := 3;
   Cols : constant := 200;
   W    : Float_Array (1 .. Rows * Cols);
   Deq  : Float_Array (1 .. Rows * Cols);
   X    : Float_Array (1 .. Cols);
   Y    : Float_Array (1 .. Rows);
   Packed : Byte_Array (1 .. Rows * Row_Bytes (Cols));
   St   : Status;

   procedure Normal_Call is
      Gam : constant Long_Float := Long_Float (Cols + 5) * 2.0 ** (-24);
   begin
      for I in W'Range loop
         W (I) := C_float (Sin (0.61 * Float (I)) * 0.5);
      end loop;
      for K in X'Range loop
         X (K) := C_float (Cos (0.37 * Float (K)) * (if K mod 7 = 0 then 3.0 else 1.0));
      end loop;
      Expect (Row_Bytes (Cols) = C_Row_Bytes (Cols), "Row_Bytes agrees with septet_q3p5_row_bytes");
      Expect (Row_Bytes (64) = 28 and then Row_Bytes (172) = 84, "Row_Bytes of 64 and 172");
      Quantize (W, Rows, Cols, Packed, St);
      Dequantize (Packed, Rows, Cols, Deq, St);
      Matvec (Packed, Rows, Cols, X, Y, St);
      for R in 1 .. Rows loop
         declare
            Ref, Bound : Long_Float := 0.0;
         begin
            for K in 1 .. Cols loop
               declare
                  B0   : constant Positive := ((K - 1) / 32) * 32 + 1;
                  Amax : Long_Float := 0.0;
                  Wk   : constant Long_Float := Long_Float (Deq ((R - 1) * Cols + K));
               begin
                  for J in B0 .. Positive'Min (B0 + 31, Cols) loop
                     Amax := Long_Float'Max (Amax, abs Long_Float (X (J)));
                  end loop;
                  Ref := Ref + Wk * Long_Float (X (K));
                  Bound := Bound + abs Wk * (Amax / 254.0 * (1.0 + Gam) + abs Long_Float (X (K)) * Gam);
               end;
            end loop;
            Expect (abs (Long_Float (Y (R)) - Ref) <= Bound,
                    "row" & R'Image & ": matvec" & Y (R)'Image & " vs dequantize-then-dot" & Ref'Image);
         end;
      end loop;
   end Normal_Call;

   procedure Bound_At_K_Max is
      type Act_Access is access Act_Array;
      type Code_Access is access Code_Array;
      Q : constant Act_Access := new Act_Array'(1 .. K_Max => -Act_Max);
      V : constant Code_Access := new Code_Array'(1 .. K_Max => Code4_Max);
   begin
      Expect (Dot_I32 (Q.all, V.all) = -Integer_32 (Act_Max * Code4_Max * K_Max),
              "Dot_I32 at K_Max reaches -127 * 15 * K_Max exactly");
   end Bound_At_K_Max;

   procedure Short_X_Is_Refused is
      Short : constant Float_Array (1 .. Cols - 1) := (others => 1.0);
   begin
      Matvec (Packed, Rows, Cols, Short, Y, St);
      Expect (False, "Matvec with X'Length = Cols - 1 returned instead of failing its precondition");
   exception
      when Ada.Assertions.Assertion_Error =>
         Put_Line ("caught Assertion_Error: Matvec with X'Length /= Cols");
   end Short_X_Is_Refused;

   procedure Past_K_Max_Is_Refused is
      type Act_Access is access Act_Array;
      type Code_Access is access Code_Array;
      Q : constant Act_Access := new Act_Array'(1 .. K_Max + 1 => 1);
      V : constant Code_Access := new Code_Array'(1 .. K_Max + 1 => 1);
      R : Integer_32;
   begin
      R := Dot_I32 (Q.all, V.all);
      Expect (False, "Dot_I32 over K_Max + 1 products returned" & R'Image);
   exception
      when Ada.Assertions.Assertion_Error =>
         Put_Line ("caught Assertion_Error: Dot_I32 with K_Max + 1 products");
   end Past_K_Max_Is_Refused;

   procedure Non_Finite_Header_Is_Refused is
      Bad : Byte_Array := Packed;
   begin
      Bad (2) := Bad (2) or 16#7C#;  --  d's exponent bits 10-14 all ones: inf / NaN
      Matvec (Bad, Rows, Cols, X, Y, St);
      Expect (False, "Matvec with a non-finite block header returned");
   exception
      when Ada.Assertions.Assertion_Error =>
         Put_Line ("caught Assertion_Error: Matvec with a non-finite header");
   end Non_Finite_Header_Is_Refused;

begin
   Normal_Call;
   Bound_At_K_Max;
   Short_X_Is_Refused;
   Past_K_Max_Is_Refused;
   Non_Finite_Header_Is_Refused;
   if Failures > 0 then
      Put_Line (Failures'Image & " check(s) failed");
      Ada.Command_Line.Set_Exit_Status (Ada.Command_Line.Failure);
   else
      Put_Line ("Ada Q3P5 contracts: normal call within bound; violated preconditions raise Assertion_Error");
   end if;
end Septet_Ada_Test;
